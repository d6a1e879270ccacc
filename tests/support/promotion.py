"""What the webhook, shadow and broken-version tests (and the bench) share: a real MLflow server
that delivers registry webhooks to http://127.0.0.1, real model versions logged to it, the API
over HTTP, and a client that keeps predicting and counts every failure."""

import threading
import time

import httpx
import mlflow
from cryptography.fernet import Fernet
from mlflow import MlflowClient

from taller_mlflow.local.servers import api_server, free_port
from taller_mlflow.local.webhook_setup import SERVER_ENV
from taller_mlflow.training.model import build_pipeline
from taller_mlflow.training.trainer import pip_requirements
from tests.support import ADELIE
from tests.support.models import fitted
from tests.support.services import start_stack

MODEL = "modelo_penguins"


def start_webhook_stack(workdir, key_file: bool = True):
    """start_stack with webhooks deliverable to loopback; the encryption key is kept in a file by
    start_mlflow.sh (the path the compose file uses), shared by the server's two workers."""
    env = {**SERVER_ENV, "MLFLOW_WEBHOOK_CACHE_TTL": "1"}
    if key_file:
        env["MLFLOW_WEBHOOK_KEY_FILE"] = str(workdir / "webhook_encryption.key")
    else:
        env["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    workdir.mkdir(parents=True, exist_ok=True)
    return start_stack(workdir, extra_env=env)


def registry_client(stack) -> MlflowClient:
    return MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)


def verify_version(stack, version: str, name: str = MODEL) -> None:
    """What the gate does first: verify the version's ONNX graph and log its serving artifact."""
    from taller_mlflow.promotion.export import export_version

    export_version(registry_client(stack), stack.tracking_uri, name, version, say=lambda _: None)


def log_version(stack, model=None, name: str = MODEL, verified: bool = True) -> tuple[str, str]:
    """Log a real fitted pipeline (the project's, by default) and register it: (version, run_id).
    `verified`: its serving artifact is logged too, so the API can serve it."""
    mlflow.set_tracking_uri(stack.tracking_uri)
    mlflow.set_registry_uri(stack.tracking_uri)
    mlflow.set_experiment("promotion-tests")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            model or fitted(build_pipeline(42)),
            name="model",
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,  # as training
            pip_requirements=pip_requirements(),  # no installed-package scan per version
        )
    version = str(mlflow.register_model(info.model_uri, name).version)
    if verified:
        verify_version(stack, version, name)
    return version, run.info.run_id


def register_again(stack, version: str, name: str = MODEL, verified: bool = True) -> str:
    """A new version of the same artifact: another version number, the same predictions."""
    mv = registry_client(stack).get_model_version(name, version)
    mlflow.set_tracking_uri(stack.tracking_uri)
    mlflow.set_registry_uri(stack.tracking_uri)
    again = str(mlflow.register_model(mv.source, name).version)
    if verified:
        verify_version(stack, again, name)
    return again


def start_api(stack, workdir, log_name: str = "api.log", **env):
    """The API over HTTP (one uvicorn worker); `env` as extra environment variables."""
    port = free_port()
    server = api_server(
        port, stack.tracking_uri, workdir / log_name, extra_env={k: str(v) for k, v in env.items()}
    ).start(timeout=120)
    return server, f"http://127.0.0.1:{port}"


def served_version(http: httpx.Client) -> str:
    response = http.post("/predict", json=ADELIE)
    response.raise_for_status()
    return response.json()["version"]


class Hammer:
    """A thread predicting all the time; every non-200 answer or transport error is kept."""

    def __init__(self, base_url: str, body=ADELIE):
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.body, self.requests, self.failures = body, 0, []
        self.versions: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Hammer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)
        self.http.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = self.http.post("/predict", json=self.body)
                if response.status_code == 200:
                    self.versions.add(response.json()["version"])
                else:
                    self.failures.append(f"{response.status_code} {response.text[:200]}")
            except httpx.HTTPError as exc:
                self.failures.append(repr(exc))
            self.requests += 1
            time.sleep(0.005)


def time_until_served(
    http: httpx.Client, version: str, started: float, limit: float
) -> float | None:
    """Seconds from `started` (perf_counter) until /predict answers with `version`; None when
    it has not after `limit` seconds."""
    while time.perf_counter() - started < limit:
        if served_version(http) == version:
            return time.perf_counter() - started
        time.sleep(0.01)
    return None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
