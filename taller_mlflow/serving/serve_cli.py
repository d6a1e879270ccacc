"""python -m taller_mlflow.serving [MODEL]: which version MODEL serves, and whether the API could
serve it: resolve the reference, fetch the version's serving artifact through the tracking
server, check its sha256 against the version's tag, load the graph and predict its input example,
exactly as an API worker would. Nothing is cached, nothing is changed.

MODEL is NAME, NAME@ALIAS or NAME/VERSION (default: MODEL_NAME@MODEL_ALIAS). Exit 0 when the
version can be served; 1 with one line saying why not.
"""

import argparse
import sys

from taller_mlflow.serving.artifacts import ArtifactLoader, NotServable
from taller_mlflow.serving.build import rest_client
from taller_mlflow.serving.manifest import ManifestError
from taller_mlflow.serving.onnx_model import GraphError, labels_of
from taller_mlflow.serving.problems import ServingError
from taller_mlflow.serving.refs import ModelRef, Resolver
from taller_mlflow.settings import Settings, help_text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m taller_mlflow.serving",
        description=__doc__,
        epilog=help_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", nargs="?", help="NAME, NAME@ALIAS or NAME/VERSION")
    parser.add_argument("--tracking-uri", help="MLflow server (env MLFLOW_TRACKING_URI)")
    args = parser.parse_args(argv)
    overrides = {"mlflow_tracking_uri": args.tracking_uri} if args.tracking_uri else {}
    settings = Settings(**overrides)
    try:
        ref = ModelRef.parse(args.model or settings.model_name, settings.model_alias)
    except ValueError as exc:
        parser.error(str(exc))
    rest = rest_client(settings)
    try:
        resolution = Resolver(rest).resolve(ref)
        model = ArtifactLoader(rest)(resolution.name, resolution.version)
    except (ServingError, NotServable, ManifestError, GraphError) as exc:
        print(f"error: {ref}: {exc}", file=sys.stderr)
        return 1
    manifest = model.manifest
    example = labels_of(model.classes, model.predict_proba(manifest.input_example))
    print(f"{ref} -> {model.name}/{model.version} (by {resolution.via})")
    print(f"graph         sha256 {model.sha256} (matches the version's tag)")
    print(f"classes       {', '.join(model.classes)}")
    print(
        f"parity        {manifest.parity.rows} rows, max |diff| {manifest.parity.max_abs_diff:.2e}"
    )
    print(f"made with     {', '.join(f'{k} {v}' for k, v in sorted(manifest.versions.items()))}")
    print(f"example       {example} (the gate saw {manifest.expected_labels})")
    print(f"loaded in     {model.load_seconds:.3f} s")
    return 0
