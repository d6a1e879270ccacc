"""The monitoring job's MLflow client: the few calls the drift and quality checks make, over
MLflow's REST API through the API's own small client (taller_mlflow/serving/mlflow_rest.py).

The job holds a window of the prediction log while it works, and MLflow's Python package would
cost it 165 MiB of imports before the first row (bench/drift_memory.py measures the job's peak).
So it speaks the handful of endpoints it needs, with MlflowClient's method names and arguments:

    GET  /api/2.0/mlflow/experiments/get-by-name          the monitoring_<model> experiment,
    POST /api/2.0/mlflow/experiments/create               made by the first check
    POST /api/2.0/mlflow/runs/create, log-batch, update    one run per check
    PUT  /api/2.0/mlflow-artifacts/artifacts/<path>        its picture and numbers, through the
                                                           server's artifact proxy
    POST /api/2.0/mlflow/model-versions/set-tag            the version's drift.* / quality.* tags
    GET  /api/2.0/mlflow/runs/get, /get-artifact           what training logged (profile,
                                                           metrics, held-out rows)

Every server path of this project proxies artifacts (start_mlflow.sh's --serve-artifacts), so a
run's artifact URI is `mlflow-artifacts:/<experiment>/<run>/artifacts`; a server without the proxy
is named in the error. Failures are the serving errors: ModelNotFound for "no such thing",
RegistryUnavailable (with the server's message) for the rest. A call that can be repeated without
a second effect (every one but creating a run or an experiment) is tried 3 times, 1 then 2 s
apart, when the server is away or answers 5xx, as MLflow's own client retries: a restart of
MLflow does not cost a check.
"""

import io
import json
import math
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from urllib.parse import quote, urlparse

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from taller_mlflow.serving.mlflow_rest import MlflowRest, MlflowRestError
from taller_mlflow.serving.problems import ModelNotFound, RegistryUnavailable

# What a check's calls can raise: the registry has no such thing, or cannot be reached.
TrackingError = (ModelNotFound, RegistryUnavailable)
PROXY = "/api/2.0/mlflow-artifacts/artifacts/"
ATTEMPTS = 3  # of a call that can be repeated; 1 s, then 2 s between them


def _transient(exc: BaseException) -> bool:
    """The server was away or failed (a refusal or a 4xx would fail the same way again)."""
    if isinstance(exc, MlflowRestError):
        return exc.status is None or exc.status >= 500
    return isinstance(exc, RegistryUnavailable)


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int = 0


@dataclass(frozen=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True)
class RunTag:
    key: str
    value: str


@dataclass
class _Run:
    run_id: str
    artifact_uri: str
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def info(self):
        return self

    @property
    def data(self):
        return SimpleNamespace(metrics=self.metrics)


def _number(value: float) -> float | str:
    """JSON has no NaN or infinity; MLflow's protobuf parser takes them as these strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


class MonitorTracking(MlflowRest):
    """MlflowClient's calls that the monitoring checks make, and nothing else."""

    retry_wait = wait_exponential(multiplier=1, max=2)  # between attempts of a repeatable call

    def __init__(self, tracking_uri: str, **options):
        if not tracking_uri.startswith(("http://", "https://")):
            raise ValueError(f"the monitoring job needs an MLflow server URL, not {tracking_uri!r}")
        super().__init__(tracking_uri, **options)
        self._artifact_roots: dict[str, str] = {}

    def _post(self, path: str, what: str, body: dict) -> dict:
        return self.request("POST", path, what, json=body).json()

    def _repeatable(self, method: str, path: str, what: str, **kwargs):
        """A call with no second effect if repeated, retried while the server is away."""
        for attempt in Retrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(ATTEMPTS),
            wait=self.retry_wait,
            reraise=True,
        ):
            with attempt:
                return self.request(method, path, what, **kwargs)

    # --- experiments and runs ----------------------------------------------------------------
    def get_experiment_by_name(self, name: str):
        try:
            data = self._get(
                "/api/2.0/mlflow/experiments/get-by-name",
                f"experiment {name}",
                experiment_name=name,
            )
        except ModelNotFound:
            return None
        return SimpleNamespace(experiment_id=data["experiment"]["experiment_id"])

    def create_experiment(self, name: str) -> str:
        return self._post(
            "/api/2.0/mlflow/experiments/create", f"experiment {name}", {"name": name}
        )["experiment_id"]

    def create_run(self, experiment_id: str, run_name: str | None = None, tags=None) -> _Run:
        body = {
            "experiment_id": str(experiment_id),
            "start_time": int(time.time() * 1000),
            "tags": [{"key": k, "value": str(v)} for k, v in (tags or {}).items()],
        }
        if run_name:
            body["run_name"] = run_name
        info = self._post("/api/2.0/mlflow/runs/create", "create run", body)["run"]["info"]
        self._artifact_roots[info["run_id"]] = info["artifact_uri"]
        return _Run(info["run_id"], info["artifact_uri"])

    def get_run(self, run_id: str) -> _Run:
        run = self._get("/api/2.0/mlflow/runs/get", f"run {run_id}", run_id=run_id)["run"]
        metrics = {m["key"]: float(m["value"]) for m in run.get("data", {}).get("metrics", [])}
        return _Run(run_id, run["info"]["artifact_uri"], metrics)

    def log_batch(self, run_id: str, metrics=(), params=(), tags=()) -> None:
        body = {
            "run_id": run_id,
            "metrics": [
                {"key": m.key, "value": _number(m.value), "timestamp": m.timestamp, "step": m.step}
                for m in metrics
            ],
            "params": [{"key": p.key, "value": p.value} for p in params],
            "tags": [{"key": t.key, "value": t.value} for t in tags],
        }
        self._repeatable("POST", "/api/2.0/mlflow/runs/log-batch", f"log to {run_id}", json=body)

    def set_terminated(self, run_id: str, status: str = "FINISHED") -> None:
        body = {"run_id": run_id, "status": status, "end_time": int(time.time() * 1000)}
        self._repeatable("POST", "/api/2.0/mlflow/runs/update", f"end run {run_id}", json=body)
        self._artifact_roots.pop(run_id, None)  # an ended run gets no more files

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        body = {"name": name, "version": str(version), "key": key, "value": str(value)}
        path = "/api/2.0/mlflow/model-versions/set-tag"
        self._repeatable("POST", path, f"tag {name}/{version}", json=body)

    # --- artifacts ---------------------------------------------------------------------------
    def log_bytes(self, run_id: str, content: bytes, artifact_file: str, mime: str) -> None:
        root = self._artifact_roots.get(run_id) or self.get_run(run_id).artifact_uri
        parsed = urlparse(root)
        if parsed.scheme != "mlflow-artifacts":
            raise RegistryUnavailable(
                f"MLflow at {self.base} does not proxy artifacts (run {run_id} stores them at "
                f"{root}): start it with --serve-artifacts"
            )
        path = quote(f"{parsed.path.strip('/')}/{artifact_file}")
        what = f"upload {artifact_file}"
        self._repeatable("PUT", PROXY + path, what, data=content, mime=mime)

    def log_figure(self, run_id: str, figure, artifact_file: str) -> None:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        self.log_bytes(run_id, buffer.getvalue(), artifact_file, "image/png")

    def log_dict(self, run_id: str, dictionary: dict, artifact_file: str) -> None:
        text = json.dumps(dictionary, indent=2)  # as mlflow.log_dict writes a .json
        self.log_bytes(run_id, text.encode(), artifact_file, "application/json")
