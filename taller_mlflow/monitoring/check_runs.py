"""A monitoring check as an MLflow run, the same way for every check (drift, quality): one run in
experiment `monitoring_<model>` with its metrics, params and tags in one batch, its picture and its
numbers as files, then FINISHED; and the check's summary as tags of the model version, the run's
id last, so a version that names a run has that run complete."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from taller_mlflow.monitoring.monitor_rest import Metric, Param, RunTag
from taller_mlflow.serving.problems import RegistryUnavailable


def experiment_name(model: str) -> str:
    return f"monitoring_{model}"


def experiment_id(client, model: str) -> str:
    found = client.get_experiment_by_name(experiment_name(model))
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(experiment_name(model))
    except RegistryUnavailable:  # another checker created it meanwhile (RESOURCE_ALREADY_EXISTS)
        return client.get_experiment_by_name(experiment_name(model)).experiment_id


@dataclass
class CheckRun:
    """What one check of one version records."""

    run_name: str
    run_tags: Mapping[str, str]  # set when the run is created
    metrics: Mapping[str, float]
    params: Mapping[str, str]
    figure: Callable[[], object]  # draws the picture (a matplotlib Figure)
    close: Callable[[object], None]  # closes it
    picture_file: str
    numbers: dict
    numbers_file: str
    version_tags: Mapping[str, str]  # the run id's tag (run_tag) is added last
    run_tag: str
    batch_tags: Mapping[str, str] = field(default_factory=dict)


def record_check(client, name: str, version: str, check: CheckRun, at: datetime) -> str:
    """Record the check; returns its run id."""
    run = client.create_run(
        experiment_id(client, name), run_name=check.run_name, tags=dict(check.run_tags)
    )
    run_id, millis = run.info.run_id, int(at.timestamp() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), millis, 0) for k, v in check.metrics.items()],
        params=[Param(k, str(v)) for k, v in check.params.items()],
        tags=[RunTag(k, v) for k, v in check.batch_tags.items()],
    )
    fig = check.figure()
    try:
        client.log_figure(run_id, fig, check.picture_file)
    finally:
        check.close(fig)
    client.log_dict(run_id, check.numbers, check.numbers_file)
    client.set_terminated(run_id)
    for key, value in {**check.version_tags, check.run_tag: run_id}.items():
        client.set_model_version_tag(name, version, key, value)
    return run_id
