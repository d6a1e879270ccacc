"""Load a registered version in a fresh process exactly as the API will, and predict its example.

    python -m taller_mlflow.promotion.probe --tracking-uri URI NAME VERSION

The child loads the version through `ArtifactLoader(MlflowRest(URI))`, the API's own path: the
version's serving tags, its `manifest.json` and `model.onnx` fetched through the tracking server,
the sha256 checks and the smoke test, then onnxruntime. Nothing is unpickled. It then predicts
the version's registered input example with that graph (the manifest's example when none was
registered) and prints one JSON line: {"ok": true, "predictions": [...], ...} or {"ok": false,
"stage": "load" | "predict", "error": "..."}. A version with no verified serving artifact fails
at "load" with the loader's own message, which names the command that exports one.

`run_probe` starts the child with no S3 keys in its environment (and no AWS credential files):
the version must load through the tracking server's artifact proxy, as the API loads it, not
through credentials the promoter happens to hold. MLFLOW_TRACKING_USERNAME/PASSWORD stay: the
API holds them too.
"""

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass

from taller_mlflow.mlflow_setup import without_s3_credentials
from taller_mlflow.penguins import CATEGORICAL, FEATURES, NUMERIC

PROBE_TIMEOUT_SECONDS = 180.0


@dataclass(frozen=True)
class ProbeResult:
    loaded: bool
    predicted: bool
    detail: str
    sha256: str | None = None  # of the graph the fresh process loaded


def probe_env(tracking_uri: str) -> dict[str, str]:
    env = without_s3_credentials()
    for key in [k for k in env if k.startswith("AWS_")]:
        env.pop(key)
    # boto3 would also read keys from ~/.aws: point it at empty files.
    env.update(AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_CONFIG_FILE=os.devnull)
    env.update(MLFLOW_TRACKING_URI=tracking_uri, MLFLOW_REGISTRY_URI=tracking_uri)
    return env


def _last_json_line(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        try:
            answer = json.loads(line)
        except ValueError:
            continue
        if isinstance(answer, dict):
            return answer
    return None


def run_probe(
    tracking_uri: str, name: str, version: str, timeout: float = PROBE_TIMEOUT_SECONDS
) -> ProbeResult:
    """Run the probe in a child process and read its answer."""
    cmd = [sys.executable, "-m", __name__, "--tracking-uri", tracking_uri, name, str(version)]
    try:
        out = subprocess.run(
            cmd, env=probe_env(tracking_uri), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return ProbeResult(False, False, f"the fresh process did not answer in {timeout:.0f} s")
    answer = _last_json_line(out.stdout)
    if answer is None:
        tail = " ".join(out.stderr.strip().splitlines()[-1:]) or f"exit code {out.returncode}"
        return ProbeResult(False, False, f"the fresh process failed: {tail[:300]}")
    if answer.get("ok"):
        predictions, example = answer["predictions"], answer.get("example", "registered")
        detail = f"{len(predictions)} rows of its {example} input example -> {predictions}"
        return ProbeResult(True, True, detail, answer.get("sha256"))
    loaded = answer.get("stage") == "predict"
    return ProbeResult(loaded, False, str(answer.get("error", "unknown error"))[:300])


def _quiet() -> None:
    logging.basicConfig(level=logging.ERROR)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def registered_example(tracking_uri: str, name: str, version: str) -> dict | None:
    """The version's registered input example as columns, None when none was logged. Only the
    model's MLmodel file and its example are fetched: no pickle."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    root = client.get_model_version_download_uri(name, version).rstrip("/")
    with tempfile.TemporaryDirectory(prefix="probe-") as tmp:

        def fetch(path: str) -> str:
            return mlflow.artifacts.download_artifacts(
                artifact_uri=f"{root}/{path}", dst_path=tmp, tracking_uri=tracking_uri
            )

        model = mlflow.models.Model.load(fetch("MLmodel"))
        info = model.saved_input_example_info
        if not info or not info.get("artifact_path"):
            return None
        fetch(info["artifact_path"])
        example = model.load_input_example(tmp)
    if not hasattr(example, "columns") or len(example) == 0:  # not a DataFrame: not ours
        return None
    frame = example[FEATURES]
    out = {c: [str(v) for v in frame[c]] for c in CATEGORICAL}
    out.update({c: [float(v) for v in frame[c]] for c in NUMERIC})
    return out


def probe(tracking_uri: str, name: str, version: str) -> dict:
    """Load as the API loads (ArtifactLoader over REST), then predict the registered example."""
    from taller_mlflow.serving.artifacts import ArtifactLoader
    from taller_mlflow.serving.mlflow_rest import MlflowRest
    from taller_mlflow.serving.onnx_model import labels_of

    stage = "load"
    try:
        served = ArtifactLoader(MlflowRest(tracking_uri))(name, version)
        stage = "predict"
        example, source = registered_example(tracking_uri, name, version), "registered"
        if example is None:
            example, source = served.manifest.input_example, "manifest's"
        rows = len(example[FEATURES[0]])
        predictions = labels_of(served.classes, served.predict_proba(example))
    except Exception as exc:  # noqa: BLE001 - whatever breaks, the parent gets one line
        error = " ".join(f"{type(exc).__name__}: {exc}".split())
        return {"ok": False, "stage": stage, "error": f"cannot {stage}: {error}"}
    if len(predictions) != rows or not rows:
        error = f"{len(predictions)} predictions for {rows} rows of the {source} input example"
        return {"ok": False, "stage": stage, "error": error}
    return {"ok": True, "predictions": predictions, "example": source, "sha256": served.sha256}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("name")
    parser.add_argument("version")
    args = parser.parse_args(argv)
    _quiet()
    answer = probe(args.tracking_uri, args.name, args.version)
    print(json.dumps(answer), flush=True)
    return 0 if answer["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
