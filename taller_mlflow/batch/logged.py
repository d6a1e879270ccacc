"""A batch run in MLflow: what was scored with which version, and how fast."""

import time

from mlflow.entities import Metric, Param, RunTag

from taller_mlflow.batch.batch_job import BatchResult
from taller_mlflow.mlflow_setup import check_server

EXPERIMENT = "penguins_batch_scoring"


def log_run(tracking_uri: str, experiment: str, result: BatchResult, params: dict) -> str:
    """One finished run with the result's counts and speed; returns its id."""
    client = check_server(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    name, version = result.model.rsplit("/", 1)
    run = client.create_run(
        experiment_id,
        run_name=f"batch {result.run_id}",
        tags={"batch.run_id": result.run_id, "model_name": name, "model_version": version},
    )
    now = int(time.time() * 1000)
    metrics = {
        "rows": result.rows,
        "bad_rows": result.bad,
        "bad_share": result.bad_share,
        "seconds": result.seconds,
        "rows_per_second": result.rows_per_second,
        "partitions": result.partitions,
    }
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
        params=[Param(k, str(v)[:500]) for k, v in {**params, "where": result.where}.items()],
        tags=[RunTag("batch.too_many_bad_rows", str(result.too_many_bad).lower())],
    )
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id
