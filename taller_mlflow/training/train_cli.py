"""Train the penguin classifier with a tracked grid search, register and promote the best model.

python -m taller_mlflow.train [--data-url URL] [--tracking-uri URI] [--quick] [--verbose]
                              [--dask-scheduler tcp://host:8786]
"""

import argparse
import json
import sys
from dataclasses import asdict

from taller_mlflow.mlflow_setup import quiet_mlflow
from taller_mlflow.settings import Settings, help_text
from taller_mlflow.stage import StageError
from taller_mlflow.training.trainer import PROMOTION_REJECTED_EXIT, release_workers, train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, epilog=help_text(), formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data-url", help="SQLAlchemy URL of the penguins table (env DATA_URL)")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (env MLFLOW_TRACKING_URI)")
    parser.add_argument(
        "--dask-scheduler",
        metavar="ADDRESS",
        help="run the grid search's fits on this Dask scheduler's workers (env TALLER_DASK_SCHEDULER)",
    )
    parser.add_argument("--quick", action="store_true", help="2 combinations instead of 27")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--verbose", action="store_true", help="also print every cross-validation fit"
    )
    args = parser.parse_args(argv)

    overrides = {
        "data_url": args.data_url,
        "mlflow_tracking_uri": args.tracking_uri,
        "quick_grid": True if args.quick else None,
        "search_verbose": 2 if args.verbose else None,
        "dask_scheduler": args.dask_scheduler,
    }
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    quiet_mlflow()
    try:
        result = train(settings)
    except StageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        release_workers()
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print(result.summary())
    if not result.promoted:  # registered, but the gate kept the alias: say so, and exit 3
        print(f"error: {result.promotion}", file=sys.stderr)
        return PROMOTION_REJECTED_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main())
