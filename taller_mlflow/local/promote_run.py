"""The promoter's half of training in the Docker stack: register a training run's model and send
the version through the promotion gate.

With MLflow's basic auth on (the stack's default) the trainer, the user JupyterLab and the training
CLI hold, may log runs and models but not register a version of the served model: MLflow asks the
same EDIT permission on a registered model to create a version and to move one of its aliases, so
whoever may register may also move @production. Registration is therefore the promoter's, together
with the gate. `make notebook` runs the notebook as the trainer, then this as the promoter, in a
container of the training image that runs the package's own code only: never the notebook, which a
student can edit, so the promoter's password never runs a student's code.

    python -m taller_mlflow.local.promote_run [RUN_ID]   # default: the newest finished training run

It registers the run's logged model (or reuses the version already registered from that run), tags
it with the run's test accuracy as training does, and asks the gate, exactly as training's own
registration step would (taller_mlflow.training.tracking.register_and_promote, then
taller_mlflow.promotion.gate). Exit 0: the version is @production (moved or already there);
3: registered, and the gate rejected it (the reason is printed); 1: anything else.
"""

import argparse
import sys

from taller_mlflow.mlflow_setup import check_server, configure_mlflow, quiet_mlflow
from taller_mlflow.promotion.gate import gate_for, promote_retrying
from taller_mlflow.promotion.promote_cli import FAILURES, error_line, finish
from taller_mlflow.settings import Settings
from taller_mlflow.stage import StageError
from taller_mlflow.training.tracking import register_and_promote

TRAINING_RUN = "grid_search"  # the run name training gives its parent run (training/trainer.py)


def training_run(client, experiment_name: str, run_id: str | None):
    """The run to register: `run_id`, else the newest FINISHED training run of the experiment."""
    if run_id:
        return client.get_run(run_id)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise StageError("promotion", f"no experiment {experiment_name}: train first")
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"attributes.status = 'FINISHED' and tags.mlflow.runName = '{TRAINING_RUN}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        raise StageError("promotion", f"no finished training run in {experiment_name}: train first")
    return runs[0]


def logged_model_uri(client, run) -> str:
    """models:/<id> of the model the run logged (MLflow 3 logs it as a LoggedModel)."""
    found = client.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}'",
        max_results=10,
    )
    if not found:
        raise StageError("promotion", f"run {run.info.run_id} logged no model")
    newest = max(found, key=lambda model: model.creation_timestamp or 0)
    return f"models:/{newest.model_id}"


def register_and_gate(settings: Settings, client, run, say=print):
    """(version, the gate's Outcome) for the run's model."""
    accuracy = run.data.metrics.get("test_accuracy")
    version = register_and_promote(
        client,
        logged_model_uri(client, run),
        run.info.run_id,
        settings.model_name,
        None,  # registered only: the gate decides about the alias
        tags={"test_accuracy": accuracy} if accuracy is not None else {},
        timeout=settings.registration_timeout_seconds,
    )
    version = str(version.version)
    say(f"registered {settings.model_name} version {version} from run {run.info.run_id}")
    gate = gate_for(settings, client, say=say)
    return version, promote_retrying(gate, version, settings.registration_timeout_seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_id", nargs="?", help="the training run (default: the newest)")
    args = parser.parse_args(argv)
    quiet_mlflow()
    settings = Settings()
    try:
        client = check_server(settings.mlflow_tracking_uri)
        configure_mlflow(settings)
        run = training_run(client, settings.experiment_name, args.run_id)
        _, outcome = register_and_gate(settings, client, run)
    except FAILURES as exc:
        print(error_line(exc), file=sys.stderr)
        return 1
    for check in outcome.checks:
        print(check.line())
    return finish(outcome)


if __name__ == "__main__":
    sys.exit(main())
