"""Moving an alias: the one write every promotion, rollback and registration makes."""

import logging

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

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
