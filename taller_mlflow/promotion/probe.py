"""Load a registered version in a fresh process, as the API will, and predict its input example.

    python -m taller_mlflow.promotion.probe --tracking-uri URI NAME VERSION

The child prints one JSON line: {"ok": true, "predictions": [...]} or {"ok": false, "stage":
"load" | "predict", "error": "..."}. `run_probe` starts it with no S3 keys in its environment
(and no AWS credential files): the version must load through the tracking server's artifact
proxy, as the API and the notebook load it, not through credentials the promoter happens to hold.
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

PROBE_TIMEOUT_SECONDS = 180.0


@dataclass(frozen=True)
class ProbeResult:
    loaded: bool
    predicted: bool
    detail: str


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
        predictions = answer["predictions"]
        return ProbeResult(True, True, f"{len(predictions)} example rows -> {predictions}")
    loaded = answer.get("stage") == "predict"
    return ProbeResult(loaded, False, str(answer.get("error", "unknown error"))[:300])


def _quiet() -> None:
    logging.basicConfig(level=logging.ERROR)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def probe(tracking_uri: str, name: str, version: str) -> dict:
    import mlflow
    from mlflow import MlflowClient

    stage = "load"
    try:
        client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
        with tempfile.TemporaryDirectory(prefix="probe-") as tmp:
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=client.get_model_version_download_uri(name, version),
                dst_path=tmp,
                tracking_uri=tracking_uri,
                registry_uri=tracking_uri,
            )
            model = mlflow.sklearn.load_model(path)
            stage = "predict"
            example = mlflow.models.Model.load(path).load_input_example(path)
        if example is None or len(example) == 0:
            return {"ok": False, "stage": stage, "error": "no input example was logged"}
        predictions = [str(p) for p in model.predict(example)]
    except Exception as exc:  # noqa: BLE001 - whatever breaks, the parent gets one line
        error = " ".join(f"{type(exc).__name__}: {exc}".split())
        return {"ok": False, "stage": stage, "error": f"cannot {stage}: {error}"}
    classes = {str(c) for c in getattr(model, "classes_", [])}
    unknown = sorted(set(predictions) - classes) if classes else []
    if len(predictions) != len(example) or unknown:
        error = f"{len(predictions)} predictions for {len(example)} rows, unknown {unknown}"
        return {"ok": False, "stage": stage, "error": error}
    return {"ok": True, "predictions": predictions}


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
