"""python -m bench: the API vs `mlflow models serve` vs in-process scikit-learn, one version.

Starts its own moto S3, PostgreSQL database and MLflow server; times plain vs tracked training;
serves the last registered version with (a) `mlflow models serve`, (b) this API, and calls (c)
scikit-learn in this process; loads (a) and (b) with wrk at concurrency 1 and 16, one row and
1000-row batches; writes bench/results/latest.json and latest.md. Needs wrk (apt-get install wrk)
and PostgreSQL on 127.0.0.1:5432.
"""

import argparse
import os
import sys
from pathlib import Path

from bench import ROOT, logcost, phases, report
from bench.load import require_wrk
from taller_mlflow.mlflow_setup import without_s3_credentials


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per load cell (10)")
    parser.add_argument(
        "--matrix-duration", type=float, default=5, help="seconds per protocol-matrix cell (5)"
    )
    parser.add_argument(
        "--soak", type=float, default=60, help="API long run, seconds (60; 0: skip)"
    )
    parser.add_argument("--train-repeats", type=int, default=3, help="plain/tracked pairs (3)")
    parser.add_argument("--api-workers", type=int, default=2, help="the API's workers (2)")
    parser.add_argument("--quick", action="store_true", help="2-combination grid (smoke run)")
    parser.add_argument(
        "--only",
        choices=["log-cost"],
        help="log-cost: only the prediction log's cells (log off vs on); writes log_cost.json",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = require_wrk()  # before anything starts: a missing tool should cost no time
    # This process is a client of the tracking server: artifacts go through its proxy.
    client_env = without_s3_credentials()
    for key in set(os.environ) - set(client_env):
        del os.environ[key]
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if args.only == "log-cost":
        print(logcost.finish(phases.run_log_cost(wrk, args), args.out))
        return 0
    res = phases.run_all(wrk, args)
    print(report.finish(res, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
