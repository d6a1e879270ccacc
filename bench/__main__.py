"""python -m bench: the API (a black box over HTTP) against `mlflow models serve`, in-process
scikit-learn and plain GridSearchCV; every verdict on the median of interleaved rounds.

Starts its own MLflow server (SQLite backend, local artifacts, as `make run`), trains through
the real pipeline, then runs each phase and writes bench/results/<phase>.json (only the latest
run of each), prints every target as median (min–max) beside its reference, and regenerates
docs/benchmark.md and README's block (python -m bench.report_md). Needs wrk (apt-get install wrk).

phases: training, startup, serving, batch, health, logcost, shadow, swaps, drift
"""

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import PHASES, RESULTS, ROOT, harness, results, say, stats
from bench.context import Context
from bench.harness import Cores, TrackingStack
from bench.wrk import Wrk, require_wrk


def phase_function(name: str):
    from bench import batch, drift_memory, liveness, logcost, promotion, serving, startup, training

    return {
        "training": training.run,
        "startup": startup.run,
        "serving": serving.run,
        "batch": batch.run,
        "health": liveness.run,
        "logcost": logcost.run,
        "shadow": promotion.shadow,
        "swaps": promotion.swaps,
        "drift": drift_memory.run,
    }[name]


def phase_list(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    unknown = sorted(set(names) - set(PHASES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown phase(s) {unknown}; phases: {', '.join(PHASES)}")
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--only", type=phase_list, help="comma-separated phases to run (default all)")
    p.add_argument("--skip", type=phase_list, default=[], help="comma-separated phases to skip")
    p.add_argument("--rounds", type=int, default=stats.MIN_ROUNDS, help="interleaved rounds (5)")
    p.add_argument("--duration", type=float, default=4, help="seconds per wrk cell (4)")
    p.add_argument(
        "--api-workers",
        type=int,
        default=2,
        help="the API's workers in batch, health, logcost and shadow (2)",
    )
    p.add_argument("--moves", type=int, default=10, help="webhook alias moves per round (10)")
    p.add_argument("--poll-moves", type=int, default=1, help="polling alias moves (1; 0: none)")
    p.add_argument("--shadow-fraction", type=float, default=0.1, help="shadowed share (0.1)")
    p.add_argument("--quick", action="store_true", help="the 2-combination grid (a smoke run)")
    p.add_argument(
        "--checkout",
        type=Path,
        default=ROOT,
        help="the checkout whose API and training are measured (default: this one)",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="where the JSON goes (default bench/results; a smoke "
        "run, --quick or fewer than 5 rounds, defaults to the work dir)",
    )
    p.add_argument("--no-report", action="store_true", help="do not regenerate the Markdown")
    args = p.parse_args(argv)
    args.smoke = args.quick or args.rounds < stats.MIN_ROUNDS
    args.checkout = args.checkout.resolve()
    return args


def target_line(t: dict) -> str:
    """One target for the terminal: the measured side beside its reference, the verdict."""
    from bench.report_md import result_text, side_text, verdict_words

    m, ref = t["measured"], t.get("reference")
    line = f"[{verdict_words(t).upper()}] {t['what']}\n    {m['label']}: {side_text(m)}"
    if ref:
        line += f"  |  {ref['label']}: {side_text(ref)}"
    line += f"\n    => {result_text(t)} (goal {t['goal']})"
    if t.get("detail"):
        line += f"; {t['detail']}"
    return line


def settings_of(args) -> dict:
    keys = ("rounds", "duration", "api_workers", "moves", "poll_moves", "shadow_fraction", "quick")
    return {k: getattr(args, k) for k in keys}


def run_phase(ctx: Context, name: str, meta: dict) -> dict:
    say(f"=== {name} ===")
    before, started = harness.loadavg(), time.perf_counter()
    payload = {"bench": name, "started_at": results.now(), "loadavg_before": before}
    payload.update(phase_function(name)(ctx))
    payload["loadavg_after"] = harness.loadavg()
    payload["finished_at"] = results.now()
    payload["wall_s"] = round(time.perf_counter() - started, 1)
    payload["meta"] = meta
    return payload


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = require_wrk()  # before anything starts: a missing tool should cost no time
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for key in [k for k in os.environ if k.startswith(("AWS_", "MLFLOW_S3_"))]:
        del os.environ[key]  # a client of the tracking server: artifacts go through its proxy
    phases = [p for p in (args.only or PHASES) if p not in args.skip]
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    out = args.out or (workdir / "results" if args.smoke else RESULTS)
    cores = Cores.split()
    meta = {
        "machine": harness.machine(),
        "bench_commit": harness.git_info(ROOT),
        "api_checkout": harness.git_info(args.checkout),
        "cores": cores.describe(),
        "versions": harness.versions(wrk),
        "settings": settings_of(args),
        "smoke": args.smoke,
    }
    say(f"work dir {workdir}; phases {', '.join(phases)}; results to {out}")
    say(f"cores: load generator {list(cores.load)}, servers {list(cores.servers)}")
    if args.checkout != ROOT:
        say(f"API and training from {args.checkout} ({meta['api_checkout']['commit'][:10]})")
    ctx = Context(args, cores, workdir, Wrk(wrk, workdir, cores.load), checkout=args.checkout)
    started, written, failed = time.perf_counter(), [], []
    try:
        say("starting the MLflow server (SQLite backend, local artifacts)")
        ctx.stack = TrackingStack(workdir / "stack", cores)
        os.sched_setaffinity(0, set(cores.load))  # this thread, and the threads it starts
        if "training" not in phases:
            ctx.ensure_versions(1)
        for name in phases:
            try:
                payload = run_phase(ctx, name, meta)
            except Exception:
                failed.append(name)
                say(f"phase {name} FAILED:\n{traceback.format_exc()}")
                harness.stop_all(ctx.servers)
                ctx.servers.clear()
                continue
            written.append(results.write(out, name, payload))
            for t in payload["targets"]:
                print(target_line(t), flush=True)
            if name == "training":
                ctx.ensure_versions(1)
    finally:
        ctx.close()
    if written:
        print("\n=== every target of this run: median (min–max) per side ===", flush=True)
        for path in written:
            for t in results.load_all(path.parent)[path.stem]["targets"]:
                print(target_line(t), flush=True)
    say(
        f"wrote {', '.join(p.name for p in written) or 'nothing'} to {out} in "
        f"{time.perf_counter() - started:.0f} s"
    )
    if written and not args.no_report and out == RESULTS:
        from bench import report_md

        for path in report_md.write_all():
            say(f"regenerated {path.relative_to(ROOT)}")
    if failed:
        say(f"failed phases: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
