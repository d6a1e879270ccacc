"""MLflow connectivity, registration and promotion."""

import logging
import os

import requests
from mlflow.exceptions import MlflowException

import mlflow
from mlflow import MlflowClient
from taller_mlflow.errors import StageError

log = logging.getLogger(__name__)


def request_auth() -> dict:
    """requests keyword arguments carrying the credentials MLflow's own client reads from the
    environment (MLFLOW_TRACKING_USERNAME/PASSWORD, or MLFLOW_TRACKING_TOKEN), for raw HTTP calls."""
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if user and password:
        return {"auth": (user, password)}
    if token:
        return {"headers": {"Authorization": f"Bearer {token}"}}
    return {}


def check_server(tracking_uri: str, timeout: float = 5.0) -> MlflowClient:
    """Fail fast, with one line, when the tracking server does not answer or refuses us."""
    if tracking_uri.startswith(("http://", "https://")):
        try:
            requests.get(f"{tracking_uri.rstrip('/')}/health", timeout=timeout).raise_for_status()
        except requests.RequestException as exc:
            raise StageError(
                "mlflow", f"tracking server {tracking_uri} unreachable: {exc}"
            ) from exc
    client = MlflowClient(tracking_uri)
    try:
        client.search_experiments(max_results=1)
    except MlflowException as exc:
        raise StageError(
            "mlflow", f"tracking server {tracking_uri} refused: {exc.message}"
        ) from exc
    return client


def promote(client: MlflowClient, name: str, version: str, alias: str = "production") -> None:
    """Point `alias` at `version`; also set stage Production (deprecated) for old stage-URI clients."""
    try:
        client.transition_model_version_stage(
            name, version, "Production", archive_existing_versions=True
        )
    except MlflowException as exc:  # stages may disappear in a later MLflow
        log.warning("could not set stage Production on %s/%s: %s", name, version, exc.message)
    client.set_registered_model_alias(name, alias, version)


def with_tracking_uri(tracking_uri: str) -> None:
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)


def child_runs(tracking_uri: str, parent_run_id: str):
    """The grid search's child runs as a table: params and CV scores, best first."""
    client = MlflowClient(tracking_uri)
    parent = client.get_run(parent_run_id)
    runs = mlflow.search_runs(
        experiment_ids=[parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        max_results=1000,
    )
    columns = {
        "params.classifier__n_estimators": "n_estimators",
        "params.classifier__max_depth": "max_depth",
        "params.classifier__min_samples_split": "min_samples_split",
        "metrics.mean_test_score": "cv_accuracy",
        "metrics.std_test_score": "cv_std",
        "metrics.rank_test_score": "rank",
        "run_id": "run_id",
    }
    table = runs[list(columns)].rename(columns=columns)
    return table.sort_values(["rank", "cv_accuracy"], ascending=[True, False]).reset_index(
        drop=True
    )
