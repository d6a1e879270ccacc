"""Score a table of penguins with a registered version's verified ONNX graph.

python -m taller_mlflow.batch --model modelo_penguins@production --data-url URL \\
    --table penguins_new --out-table predictions_new [--dask-scheduler tcp://host:8786]

Exit 0: every row written (bad ones with a reason); 4: more bad rows than the threshold (all
rows written all the same); 1: the job could not run (one line says why).
"""

import argparse
import dataclasses
import sys

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from taller_mlflow.serving.artifacts import NotServable
from taller_mlflow.serving.manifest import ManifestError
from taller_mlflow.serving.onnx_model import GraphError
from taller_mlflow.serving.problems import RegistryUnavailable
from taller_mlflow.settings import Settings, help_text
from taller_mlflow.stage import StageError

TOO_MANY_BAD_ROWS_EXIT = 4
FAILURES = (
    ValidationError,  # a setting out of range (--bad-rows-threshold 2)
    RegistryUnavailable,  # ModelNotFound too
    NotServable,
    ManifestError,
    GraphError,
    SQLAlchemyError,  # a URL it cannot parse, a database it cannot reach
    OSError,
)


def error_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        return f"setting {field}: {first['msg']} (got {first.get('input')!r})"
    text = str(getattr(exc, "orig", None) or exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else 'no detail'}"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m taller_mlflow.batch",
        description=__doc__,
        epilog=help_text(),
        formatter_class=argparse.RawTextHelpFormatter,
    )
    p.add_argument("--model", required=True, help="NAME@ALIAS or NAME/VERSION")
    p.add_argument("--data-url", help="SQLAlchemy URL of the input table (env DATA_URL)")
    p.add_argument("--table", required=True, help="input table: an integer key and the features")
    p.add_argument("--out-table", required=True, help="output table, created if missing")
    p.add_argument("--out-url", help="SQLAlchemy URL of the output table (default: --data-url)")
    p.add_argument("--key", default="id", help="the input's integer key column (default: id)")
    p.add_argument("--dask-scheduler", metavar="ADDRESS", help="env TALLER_DASK_SCHEDULER")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (env MLFLOW_TRACKING_URI)")
    p.add_argument("--run-id", help="idempotency key (default: TABLE@NAME/VERSION)")
    p.add_argument(
        "--bad-rows-threshold",
        type=float,
        metavar="SHARE",
        help="exit 4 above this share of bad rows (env TALLER_BATCH_BAD_ROWS_THRESHOLD)",
    )
    p.add_argument("--partition-rows", type=int, help="env TALLER_BATCH_PARTITION_ROWS")
    p.add_argument("--experiment", help="MLflow experiment of the run")
    p.add_argument("--no-mlflow-run", action="store_true", help="log no run (benchmarks)")
    return p


def settings_from(args) -> Settings:
    overrides = {
        "data_url": args.data_url,
        "mlflow_tracking_uri": args.tracking_uri,
        "dask_scheduler": args.dask_scheduler,
        "batch_bad_rows_threshold": args.bad_rows_threshold,
        "batch_partition_rows": args.partition_rows,
    }
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def run(args, settings: Settings):
    from taller_mlflow.batch import batch_job
    from taller_mlflow.batch.logged import EXPERIMENT, log_run
    from taller_mlflow.batch.scorer import Job
    from taller_mlflow.serving.mlflow_rest import MlflowRest
    from taller_mlflow.training.cluster import check_scheduler

    # A wrong address fails first, before the registry is read or a table created.
    check_scheduler(settings.dask_scheduler, settings.dask_connect_timeout_seconds)
    rest = MlflowRest(settings.mlflow_tracking_uri, timeout=settings.mlflow_request_timeout_seconds)
    name, version, graph = batch_job.load_graph(rest, args.model, settings.model_alias)
    run_id = batch_job.batch_run_id(name, version, args.table, args.run_id)
    out_url = args.out_url or settings.data_url
    stamp = batch_job.stamp(name, version, run_id)
    job = Job(settings.data_url, args.table, args.key, out_url, args.out_table, stamp)
    result = batch_job.score_table(
        job,
        graph,
        settings.batch_partition_rows,
        settings.dask_scheduler,
        settings.dask_connect_timeout_seconds,
        settings.batch_bad_rows_threshold,
    )
    if args.no_mlflow_run:
        return result
    params = {"model": args.model, "table": args.table, "out_table": args.out_table}
    mlflow_run = log_run(
        settings.mlflow_tracking_uri, args.experiment or EXPERIMENT, result, params
    )
    return dataclasses.replace(result, mlflow_run_id=mlflow_run)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = settings_from(args)
        result = run(args, settings)
    except StageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except FAILURES as exc:  # the registry, the database, the cluster: one line, no traceback
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 1
    print(result.summary())
    if result.too_many_bad:
        print(
            f"error: {result.bad} of {result.rows} rows are bad ({result.bad_share:.2%}), more "
            f"than the threshold of {result.threshold:.2%}",
            file=sys.stderr,
        )
        return TOO_MANY_BAD_ROWS_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main())
