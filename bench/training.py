"""Plain GridSearchCV vs tracked training, each run timed in a fresh process (bench.train_child)."""

import json
import statistics
import subprocess
import sys

from bench import ROOT, say
from taller_mlflow.mlflow_setup import without_s3_credentials

CV_FOLDS = 5


def train_once(kind: str, data_url: str, tracking_uri: str, quick: bool) -> dict:
    """One training in a fresh process; the child times itself after its imports."""
    cmd = [sys.executable, "-m", "bench.train_child", kind, data_url, tracking_uri]
    proc = subprocess.run(
        cmd + (["--quick"] if quick else []),
        cwd=ROOT,  # `-m bench.train_child` resolves against the repository root
        env=without_s3_credentials(),  # a client of the tracking server, as in production
        capture_output=True,
        text=True,
        timeout=1800,
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if proc.returncode or line is None:
        raise RuntimeError(f"{kind} training failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(line.removeprefix("BENCH_JSON "))


def child_runs(tracking_uri: str, experiment_id: str, run_id: str) -> int:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    runs = client.search_runs([experiment_id], max_results=1000)
    return sum(r.data.tags.get("mlflow.parentRunId") == run_id for r in runs)


def time_training(tracking_uri: str, data_url: str, repeats: int, quick: bool) -> dict:
    """Plain and tracked alternate, so that a burst of other work hits both alike."""
    plain_s, tracked_s, result = [], [], {}
    for i in range(repeats):
        say(f"training {i + 1}/{repeats}: plain GridSearchCV")
        plain_s.append(train_once("plain", data_url, tracking_uri, quick)["seconds"])
        say(f"training {i + 1}/{repeats}: tracked (autolog child runs + log + register)")
        result = train_once("tracked", data_url, tracking_uri, quick)
        tracked_s.append(result["seconds"])
        say(f"  plain {plain_s[-1]:.2f}s, tracked {tracked_s[-1]:.2f}s")
    return {
        "combinations": result["combinations"],
        "cv_folds": CV_FOLDS,
        "plain_seconds": plain_s,
        "tracked_seconds": tracked_s,
        "plain_median": statistics.median(plain_s),
        "tracked_median": statistics.median(tracked_s),
        "plain_min": min(plain_s),
        "tracked_min": min(tracked_s),
        # The least-disturbed run of each: on a shared machine, noise only ever adds time.
        "ratio": min(tracked_s) / min(plain_s),
        "child_runs_of_last": child_runs(tracking_uri, result["experiment_id"], result["run_id"]),
        "model_version": result["model_version"],
        "best_params": result["best_params"],
    }
