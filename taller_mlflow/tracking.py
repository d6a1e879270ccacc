"""MLflow connectivity, registration and promotion."""

import logging
import os
import time

import mlflow
import pandas as pd
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

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
    # The registry too: else it follows mlflow.set_registry_uri(), maybe another server's.
    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
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


# Error codes worth another try: the server or its backend store (PostgreSQL) was briefly away.
TRANSIENT_CODES = {"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"}


def _wait_ready(client: MlflowClient, name: str, version: str, timeout: float = 300.0):
    deadline = time.monotonic() + timeout
    while True:
        mv = client.get_model_version(name, version)
        if mv.status == "READY":
            return mv
        if mv.status == "FAILED_REGISTRATION" or time.monotonic() > deadline:
            client.delete_model_version(name, version)  # never leave a half-registered version
            raise MlflowException(f"version {name}/{version} ended {mv.status}: deleted it")
        time.sleep(1)


def register_and_promote(
    client: MlflowClient,
    model_uri: str,
    run_id: str,
    name: str,
    alias: str = "production",
    attempts: int = 5,
    backoff: float = 3.0,
):
    """Register the run's model and point `alias` at it; safe to retry after a transient error.

    Each attempt reuses a version an earlier attempt created for the same run (no duplicates),
    waits until that version is READY, and only then moves the alias, so the alias never points
    at a missing or unfinished version. Returns the ModelVersion.
    """
    for attempt in range(1, attempts + 1):
        try:
            existing = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
            if existing:
                version = max(existing, key=lambda v: int(v.version))
            else:
                version = mlflow.register_model(model_uri, name)
            version = _wait_ready(client, name, str(version.version))
            promote(client, name, str(version.version), alias)
            if str(client.get_model_version_by_alias(name, alias).version) != str(version.version):
                raise MlflowException(f"alias {alias} did not move to {version.version}")
            return version
        except MlflowException as exc:
            if exc.error_code not in TRANSIENT_CODES or attempt == attempts:
                raise
            log.warning("registration attempt %d failed (%s); retrying", attempt, exc.message)
            time.sleep(backoff * attempt)
    raise AssertionError("unreachable")


def with_tracking_uri(tracking_uri: str) -> None:
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)


def child_runs(tracking_uri: str, parent_run_id: str) -> pd.DataFrame:
    """The grid search's child runs as a table: params and CV scores, best first."""
    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    parent = client.get_run(parent_run_id)
    runs = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        max_results=1000,
    )
    table = pd.DataFrame(
        {
            "n_estimators": int(r.data.params["classifier__n_estimators"]),
            "max_depth": int(r.data.params["classifier__max_depth"]),
            "min_samples_split": int(r.data.params["classifier__min_samples_split"]),
            "cv_accuracy": r.data.metrics.get("mean_test_score"),
            "cv_std": r.data.metrics.get("std_test_score"),
            "rank": r.data.metrics.get("rank_test_score"),
            "run_id": r.info.run_id,
        }
        for r in runs
    )
    return table.sort_values(["rank", "cv_accuracy"], ascending=[True, False]).reset_index(
        drop=True
    )
