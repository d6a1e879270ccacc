"""The one place MLflow's client settings are applied: called by the CLIs, the notebook, the API."""

import math
import os

import mlflow

from taller_mlflow.settings import Settings

# The server proxies artifacts (--artifacts-destination), so clients hold no S3 keys and may not
# reach S3 at all (minio:9000 from the host, 127.0.0.1:9000 from a container). MLflow 3.x would
# still send downloads straight to S3 with presigned URLs when the server advertises it: keep every
# transfer on the proxy unless the user asks otherwise.
PROXIED_TRANSFERS = {
    "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false",
    "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "false",
}


def serving_http(settings: Settings) -> dict[str, str]:
    """The API must answer quickly when MLflow is down: fail over to its cache, not retry for
    minutes (MLflow's default is 7 retries with exponential backoff)."""
    return {
        # MLflow parses this one as an int ("10.0" would fail every request): whole seconds, up.
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(
            max(1, math.ceil(settings.mlflow_request_timeout_seconds))
        ),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(settings.mlflow_request_max_retries),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }


def configure_mlflow(settings: Settings, *, serving: bool = False) -> None:
    """Point MLflow's tracking and registry at the configured server and set its client options.

    Both URIs are set explicitly: `models:/` loads follow the process-global registry URI, which
    would otherwise stay unset when the URI came from `.env` rather than the environment.
    MLflow reads its client options from the environment on each request, hence os.environ.
    """
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    for name, value in PROXIED_TRANSFERS.items():
        os.environ.setdefault(name, value)  # a user's explicit choice wins
    if serving:
        os.environ.update(serving_http(settings))
