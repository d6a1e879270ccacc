"""MLflow connectivity, registration and promotion."""

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import mlflow
import pandas as pd
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_STATE
from tenacity import (
    Retrying,
    retry_if_exception,
    retry_if_result,
    wait_exponential,
    wait_fixed,
)

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
REGISTRATION_TIMEOUT = 120.0  # the default of Settings.registration_timeout_seconds
POLL_SECONDS = 1.0


class RegistrationFailed(MlflowException):
    """A version that will not become usable. Its own error code (not INTERNAL_ERROR), so it is
    never mistaken for a transient failure and retried."""

    def __init__(self, message: str):
        super().__init__(message, error_code=INVALID_STATE)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, MlflowException) and exc.error_code in TRANSIENT_CODES


@dataclass(frozen=True)
class Budget:
    """One deadline shared by every attempt and every wait, on an injectable clock and sleep."""

    deadline: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def retrying(self, **kwargs) -> Retrying:
        return Retrying(stop=self.spent, sleep=self.sleep, **kwargs)

    def spent(self, state) -> bool:
        """tenacity stop: give up when the next sleep would end past the deadline."""
        return self.clock() + state.upcoming_sleep > self.deadline


def register_model(model_uri: str, name: str):
    # MLflow would itself wait up to 300 s for READY: that wait belongs to our budget instead.
    return mlflow.register_model(model_uri, name, await_registration_for=0)


def _wait_ready(client, name: str, version: str, budget: Budget):
    """The version once READY; else (FAILED_REGISTRATION, or still pending at the deadline) it is
    deleted, never left half-registered, and RegistrationFailed is raised."""
    poll = budget.retrying(
        retry=retry_if_result(lambda mv: mv.status not in ("READY", "FAILED_REGISTRATION")),
        wait=wait_fixed(POLL_SECONDS),
        retry_error_callback=lambda state: state.outcome.result(),
    )
    mv = poll(client.get_model_version, name, version)
    if mv.status == "READY":
        return mv
    client.delete_model_version(name, version)
    raise RegistrationFailed(f"version {name}/{version} is {mv.status}, not READY: deleted it")


def version_number(version) -> int:
    return int(version.version)


def _tag_and_promote(client, name: str, version: str, alias: str | None, tags: dict) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value))
    if alias is None:  # register only: the promotion gate decides about the alias
        return
    promote(client, name, version, alias)
    if str(client.get_model_version_by_alias(name, alias).version) != version:
        raise RegistrationFailed(f"alias {alias} did not move to {version}")


def _log_retry(state) -> None:
    log.warning(
        "registration attempt %d failed (%s); retrying in %.0f s",
        state.attempt_number,
        state.outcome.exception(),
        state.upcoming_sleep,
    )


def register_and_promote(
    client: MlflowClient,
    model_uri: str,
    run_id: str,
    name: str,
    alias: str | None = "production",
    *,
    tags: dict | None = None,
    timeout: float = REGISTRATION_TIMEOUT,
    register: Callable = register_model,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
):
    """Register the run's model, tag it, and point `alias` at it once READY. Returns the version.

    Transient errors (the server or its database briefly away) are retried; anything else is
    raised at once. Every attempt and every wait share one budget of `timeout` seconds. The alias
    only ever points at a READY version, and is read back to check that it moved. With
    `alias=None` the version is registered and tagged only (training then asks the promotion
    gate, taller_mlflow.promotion, to move the alias).
    """
    budget = Budget(clock() + timeout, clock, sleep)

    def attempt():
        # A version an earlier attempt created for this run is reused: no duplicates.
        existing = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
        version = max(existing, key=version_number) if existing else register(model_uri, name)
        version = _wait_ready(client, name, str(version.version), budget)
        _tag_and_promote(client, name, str(version.version), alias, tags or {})
        return version

    retrying = budget.retrying(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential(multiplier=3, max=30),
        before_sleep=_log_retry,
        reraise=True,
    )
    return retrying(attempt)


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
