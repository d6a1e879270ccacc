"""Load a registered version in a fresh process exactly as the API will, and predict its example.

    python -m taller_mlflow.promotion.probe --tracking-uri URI NAME VERSION
    python -m taller_mlflow.promotion.probe --tracking-uri URI --stdin   # then {"name", "version"}

The child loads the version through `ArtifactLoader(MlflowRest(URI))`, the API's own path: the
version's serving tags, its `manifest.json` and `model.onnx` fetched through the tracking server,
the sha256 checks and the smoke test, then onnxruntime. Nothing is unpickled. It then predicts
the version's registered input example with that graph (the manifest's example when none was
registered) and prints one JSON line: {"ok": true, "predictions": [...], ...} or {"ok": false,
"stage": "load" | "predict", "error": "..."}. A version with no verified serving artifact fails
at "load" with the loader's own message, which names the command that exports one. The registered
example is read as the API reads: MLmodel and the example's JSON through the server's artifact
proxy, with no MLflow import (MLflow's client reads it only when the model is stored elsewhere).

The gate starts the child ahead (`FreshProcess`, with --stdin): the interpreter starts and imports
the loader's modules while the gate builds and logs the serving artifact, then reads the version
to load from its stdin. It has fetched nothing of the version before it is asked, so it still
loads exactly what was logged by then.

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
from urllib.parse import quote, urlparse

from taller_mlflow.penguins import CATEGORICAL, FEATURES, NUMERIC

PROBE_TIMEOUT_SECONDS = 180.0


@dataclass(frozen=True)
class ProbeResult:
    loaded: bool
    predicted: bool
    detail: str
    sha256: str | None = None  # of the graph the fresh process loaded


def probe_env(tracking_uri: str) -> dict[str, str]:
    # Imported here: mlflow_setup imports MLflow, which the probe's child never needs.
    from taller_mlflow.mlflow_setup import without_s3_credentials

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


def answer_of(stdout: str, stderr: str, returncode: int | None) -> ProbeResult:
    """The child's JSON line read as a ProbeResult."""
    answer = _last_json_line(stdout)
    if answer is None:
        tail = " ".join(stderr.strip().splitlines()[-1:]) or f"exit code {returncode}"
        return ProbeResult(False, False, f"the fresh process failed: {tail[:300]}")
    if answer.get("ok"):
        predictions, example = answer["predictions"], answer.get("example", "registered")
        detail = f"{len(predictions)} rows of its {example} input example -> {predictions}"
        return ProbeResult(True, True, detail, answer.get("sha256"))
    loaded = answer.get("stage") == "predict"
    return ProbeResult(loaded, False, str(answer.get("error", "unknown error"))[:300])


class FreshProcess:
    """The probe's child, started now and asked later: `probe = FreshProcess(uri)`, other work,
    then `probe(name, version)` (a ProbeResult) and `probe.close()`. The timeout runs from the
    question; a child never asked is killed by close()."""

    def __init__(self, tracking_uri: str, timeout: float = PROBE_TIMEOUT_SECONDS):
        cmd = [sys.executable, "-m", __name__, "--tracking-uri", tracking_uri, "--stdin"]
        self.timeout = timeout
        self.proc = subprocess.Popen(
            cmd,
            env=probe_env(tracking_uri),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def __call__(self, name: str, version: str) -> ProbeResult:
        question = json.dumps({"name": name, "version": str(version)}) + "\n"
        try:
            out, err = self.proc.communicate(question, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.close()
            return ProbeResult(
                False, False, f"the fresh process did not answer in {self.timeout:.0f} s"
            )
        return answer_of(out, err, self.proc.returncode)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()  # reaps it and closes the pipes


class Deferred:
    """Another probe function (a test's stand-in) behind FreshProcess's start-then-ask calls."""

    def __init__(self, probe, tracking_uri: str):
        self.probe, self.tracking_uri = probe, tracking_uri

    def __call__(self, name: str, version: str) -> ProbeResult:
        return self.probe(self.tracking_uri, name, version)

    def close(self) -> None:
        pass


def start_probe(probe, tracking_uri: str):
    """`probe` started: run_probe's child starts now (FreshProcess); any other function is
    called when asked."""
    return FreshProcess(tracking_uri) if probe is run_probe else Deferred(probe, tracking_uri)


def run_probe(
    tracking_uri: str, name: str, version: str, timeout: float = PROBE_TIMEOUT_SECONDS
) -> ProbeResult:
    """Run the probe in a child process and read its answer."""
    probe = FreshProcess(tracking_uri, timeout)
    try:
        return probe(name, version)
    finally:
        probe.close()


def _quiet() -> None:
    logging.basicConfig(level=logging.ERROR)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def as_columns(frame) -> dict:
    """The features of an example as the API's columns: strings and floats."""
    out = {c: [str(v) for v in frame[c]] for c in CATEGORICAL}
    out.update({c: [float(v) for v in frame[c]] for c in NUMERIC})
    return out


def proxied_path(artifact_uri: str) -> str | None:
    """The path to ask the tracking server's artifact proxy for, None when `artifact_uri` is not
    on this server's proxy (mlflow-artifacts:/...)."""
    uri = urlparse(artifact_uri)
    if uri.scheme != "mlflow-artifacts" or uri.netloc:
        return None
    return uri.path.strip("/")


def registered_example(tracking_uri: str, name: str, version: str) -> dict | None:
    """The version's registered input example as columns, None when none was logged. Only the
    model's MLmodel file and its example are fetched, through the tracking server as the API
    fetches: no pickle, no MLflow. A model stored elsewhere, or an example that is not a
    DataFrame in MLflow's split JSON, is read with MLflow's own client instead."""
    import yaml

    from taller_mlflow.serving.mlflow_rest import MlflowRest

    rest = MlflowRest(tracking_uri)
    root = rest.request(
        "GET",
        "/api/2.0/mlflow/model-versions/get-download-uri",
        f"the files of {name}/{version}",
        params={"name": name, "version": str(version)},
    ).json()["artifact_uri"]
    folder = proxied_path(root)
    if folder is None:
        return registered_example_with_mlflow(tracking_uri, name, version)

    def fetch(path: str) -> bytes:
        url = f"/api/2.0/mlflow-artifacts/artifacts/{quote(f'{folder}/{path}')}"
        return rest.request("GET", url, f"{path} of {name}/{version}").content

    info = (yaml.safe_load(fetch("MLmodel")) or {}).get("saved_input_example_info") or {}
    if not info.get("artifact_path"):
        return None
    if info.get("type") != "dataframe" or info.get("pandas_orient", "split") != "split":
        return registered_example_with_mlflow(tracking_uri, name, version)
    example = json.loads(fetch(info["artifact_path"]))
    rows, columns = example.get("data") or [], example.get("columns") or []
    if not rows:
        return None
    frame = {column: [row[i] for row in rows] for i, column in enumerate(columns)}
    return as_columns({c: frame[c] for c in FEATURES})


def registered_example_with_mlflow(tracking_uri: str, name: str, version: str) -> dict | None:
    """registered_example through MLflow's client: any store, any kind of example."""
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
    return as_columns(example[FEATURES])


def prepare() -> None:
    """What the probe imports, imported before it knows the version (FreshProcess)."""
    import yaml  # noqa: F401

    import taller_mlflow.serving.artifacts  # noqa: F401
    import taller_mlflow.serving.mlflow_rest  # noqa: F401
    import taller_mlflow.serving.onnx_model  # noqa: F401


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
    parser.add_argument(
        "--stdin",
        action="store_true",
        help='import first, then read {"name": ..., "version": ...} from stdin',
    )
    parser.add_argument("name", nargs="?")
    parser.add_argument("version", nargs="?")
    args = parser.parse_args(argv)
    _quiet()
    if args.stdin:
        prepare()
        line = sys.stdin.readline()
        if not line.strip():  # the caller went away without asking
            return 1
        question = json.loads(line)
        args.name, args.version = question["name"], question["version"]
    elif args.name is None or args.version is None:
        parser.error("NAME and VERSION are required without --stdin")
    answer = probe(args.tracking_uri, args.name, args.version)
    print(json.dumps(answer), flush=True)
    return 0 if answer["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
