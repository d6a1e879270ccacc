"""Tracked training vs plain GridSearchCV on the same grid, each in a fresh process timed from its
spawn (bench/train_child.py), interleaved plain, tracked, plain, tracked, ... `--rounds` times."""

import json
import os
import subprocess
import sys
import time

from bench import ROOT, results, say, stats
from bench.harness import client_env, pin_to

TRAINING_GOAL = 1.2  # tracked ≤ 1.2× plain
CHILD = ROOT / "bench" / "train_child.py"


def train_once(ctx, kind: str) -> dict:
    """One training in a fresh process on every core; the checkout under test provides the code."""
    env = client_env()
    env["PYTHONPATH"] = str(ctx.checkout)
    spawned_at = time.time()
    cmd = [sys.executable, str(CHILD), kind, ctx.stack.data_url, ctx.tracking_uri, repr(spawned_at)]
    proc = subprocess.run(
        cmd + (["--quick"] if ctx.args.quick else []),
        cwd=ctx.checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        preexec_fn=pin_to(ctx.cores.all),
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if proc.returncode or line is None:
        raise RuntimeError(f"{kind} training failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    out = json.loads(line.removeprefix("BENCH_JSON "))
    out["wall_to_exit_s"] = time.time() - spawned_at
    return out


def child_runs(ctx, result: dict) -> int:
    runs = ctx.stack.client().search_runs([result["experiment_id"]], max_results=1000)
    return sum(r.data.tags.get("mlflow.parentRunId") == result["run_id"] for r in runs)


def stage_summaries(runs: list[dict]) -> dict:
    """Each stage's median (min–max) over the runs; None for a stage no run could cut apart."""
    out = {}
    for stage in runs[0]["stages"]:
        values = [r["stages"][stage] for r in runs if r["stages"].get(stage) is not None]
        out[stage] = results.side(stage, "s", values) if values else None
    return out


def run(ctx) -> dict:
    rounds = ctx.args.rounds

    def one(kind):
        def go(n: int) -> dict:
            say(f"training round {n + 1}/{rounds}: {kind}")
            r = train_once(ctx, kind)
            say(f"  {kind}: {r['total_s']:.2f} s from spawn")
            return r

        return go

    runs = stats.interleave(rounds, {"plain": one("plain"), "tracked": one("tracked")})
    plain = results.side("plain GridSearchCV", "s", [r["total_s"] for r in runs["plain"]])
    tracked = results.side("tracked training", "s", [r["total_s"] for r in runs["tracked"]])
    breakdown = {kind: stage_summaries(runs[kind]) for kind in ("plain", "tracked")}
    last = runs["tracked"][-1]
    grid = f"{last['combinations']}-combination grid × 5 folds"
    target = results.ratio_target(
        "training",
        f"tracked training (the {grid}, 27 child runs, registration, gate) vs plain GridSearchCV, "
        "both from process spawn",
        tracked,
        plain,
        TRAINING_GOAL,
        at_most=True,
    )
    return {
        "targets": [target],
        "data": {
            "runs": runs,
            "breakdown": breakdown,
            "child_runs_of_last": child_runs(ctx, last),
            "combinations": last["combinations"],
            "model_version_of_last": last["model_version"],
            "cpu_count": os.cpu_count(),
        },
    }
