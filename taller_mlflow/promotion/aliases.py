"""Reading and moving an alias: the one write every promotion, rollback and registration makes,
and the reads the gate decides on."""

import logging

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from taller_mlflow.promotion.outcome import PromotionError

log = logging.getLogger(__name__)


def move_alias(client: MlflowClient, name: str, version: str, alias: str = "production") -> None:
    """Point `alias` at `version`; also set stage Production (deprecated) for old stage-URI clients."""
    try:
        client.transition_model_version_stage(
            name, version, "Production", archive_existing_versions=True
        )
    except MlflowException as exc:  # stages may disappear in a later MLflow
        log.warning("could not set stage Production on %s/%s: %s", name, version, exc.message)
    client.set_registered_model_alias(name, alias, version)


def alias_target(client, name: str, alias: str) -> str | None:
    """The version `alias` points at, None when the model or the alias does not exist."""
    try:
        aliases = client.get_registered_model(name).aliases or {}
    except MlflowException as exc:
        if str(exc.error_code) == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    version = aliases.get(alias)
    return None if version is None else str(version)


def ready_version(client, name: str, version: str):
    """The model version, or PromotionError (one line) when it is unknown or not READY."""
    try:
        mv = client.get_model_version(name, str(version))
    except MlflowException as exc:
        raise PromotionError(f"{name} version {version}: {exc.message}") from exc
    if mv.status not in (None, "READY"):
        raise PromotionError(f"{name} version {version} is {mv.status}, not READY")
    return mv


def move_and_confirm(client, name: str, version: str, alias: str) -> None:
    """Move the alias, then read it back: a move the registry did not make is an error."""
    move_alias(client, name, version, alias)
    if alias_target(client, name, alias) != version:
        raise PromotionError(f"@{alias} of {name} did not move to {version}")
