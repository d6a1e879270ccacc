"""MLflow's client, set up once for the processes that use it (training, the notebook, the
promotion gate, the drift job): the server's URIs and options, a reachability check, which errors
are worth a retry, quiet command lines, and the environment of a client that holds no S3 keys.

The API does not import this module, nor MLflow: it speaks to the server through
taller_mlflow.serving.mlflow_rest."""

import logging
import math
import os
import warnings

import mlflow
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from taller_mlflow.settings import Settings
from taller_mlflow.stage import StageError

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


# Error codes worth another try: the server or its backend store (PostgreSQL) was briefly away.
TRANSIENT_CODES = {"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"}


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, MlflowException) and exc.error_code in TRANSIENT_CODES


S3_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "MLFLOW_S3_ENDPOINT_URL",
)


def without_s3_credentials(env: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if env is None else env)
    for key in S3_ENV:
        env.pop(key, None)
    return env


def quiet_warnings() -> None:
    """For the notebook too, which keeps MLflow's own lines: no download progress bars, no
    warning about the stages kept for old clients, nor about pickles (the API serves ONNX)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*cloudpickle format.*")


def quiet_mlflow() -> None:
    """For command lines: our own progress lines, not MLflow's URLs, warnings and retries."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    quiet_warnings()
    for name in ("mlflow", "urllib3", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
