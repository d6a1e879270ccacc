"""Registering a trained model, and the grid search's child runs as a table."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_STATE
from tenacity import (
    Retrying,
    retry_if_exception,
    retry_if_result,
    wait_exponential,
)

from taller_mlflow.mlflow_setup import is_transient
from taller_mlflow.promotion.aliases import move_alias

log = logging.getLogger(__name__)


REGISTRATION_TIMEOUT = 120.0  # the default of Settings.registration_timeout_seconds
# A new version is read at once (it is usually READY already), then polled after 0.1 s, 0.2 s,
# 0.4 s, ... and every POLL_SECONDS at most.
FIRST_POLL_SECONDS = 0.1
POLL_SECONDS = 1.0


class RegistrationFailed(MlflowException):
    """A version that will not become usable. Its own error code (not INTERNAL_ERROR), so it is
    never mistaken for a transient failure and retried."""

    def __init__(self, message: str):
        super().__init__(message, error_code=INVALID_STATE)


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
        wait=wait_exponential(multiplier=FIRST_POLL_SECONDS, max=POLL_SECONDS),
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
    move_alias(client, name, version, alias)
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
