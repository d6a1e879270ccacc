"""A small client of MLflow's REST API, for the API process: the registry, run artifacts, webhooks.

The API needs a handful of MLflow's endpoints, and none of MLflow's Python package (which would
bring pandas, scikit-learn's pickles and a second of imports into every worker):

    GET  /api/2.0/mlflow/registered-models/alias        which version an alias names
    GET  /api/2.0/mlflow/model-versions/get             a version, its run and its tags
    GET  /api/2.0/mlflow/registered-models/search       the listing, page by page
    GET  /api/2.0/mlflow/model-versions/search          every version, page by page
    POST /api/2.0/mlflow/runs/search                    test accuracy of untagged versions
    GET  /get-artifact?run_id=&path=                    a run's artifact, through the server
    GET|POST|PATCH|DELETE /api/2.0/mlflow/webhooks      the API's webhook registration

It authenticates as MLflow's own client does, from MLFLOW_TRACKING_USERNAME/PASSWORD (basic auth)
or MLFLOW_TRACKING_TOKEN (bearer), and fails fast: one timeout per call, a few retries without
backoff, so a request never waits long on a server that is away (the API then answers from what it
has cached). MLflow's "no such thing" answers become ModelNotFound; everything else that fails,
RegistryUnavailable. It speaks urllib3 directly (one thread-safe connection pool), which imports in
half the time `requests` takes: a worker's start-up is mostly imports.
"""

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import orjson
import urllib3

from taller_mlflow.serving.problems import ModelNotFound, RegistryUnavailable

# MLflow's error codes that mean "no such model, alias or version" (an unknown alias is an
# INVALID_PARAMETER_VALUE). Every other error is the registry's.
NOT_FOUND_CODES = frozenset(
    {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND", "BAD_REQUEST"}
)
PAGE_SIZE = 1000
# How artifact stores say "no such file" inside MLflow's 500 answer.
MISSING_ARTIFACT = re.compile(r"\(404\)|Not Found|NoSuchKey|No such file|does not exist", re.I)


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    run_id: str | None
    status: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    creation_timestamp: int = 0
    current_stage: str | None = None

    @classmethod
    def from_json(cls, data: dict) -> "ModelVersion":
        return cls(
            name=data["name"],
            version=str(data["version"]),
            run_id=data.get("run_id") or None,
            status=data.get("status", "READY"),
            tags={t["key"]: t.get("value", "") for t in data.get("tags", [])},
            aliases=list(data.get("aliases", [])),
            creation_timestamp=int(data.get("creation_timestamp", 0)),
            current_stage=data.get("current_stage"),
        )


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    aliases: dict[str, str]  # alias -> version
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict) -> "RegisteredModel":
        return cls(
            name=data["name"],
            aliases={a["alias"]: str(a["version"]) for a in data.get("aliases", [])},
            tags={t["key"]: t.get("value", "") for t in data.get("tags", [])},
        )


class MlflowRestError(RegistryUnavailable):
    """MLflow answered with an error that is not "not found"."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.code = status, code


def credentials_from_env(environ=os.environ) -> dict[str, str]:
    """The Authorization header MLflow's own client would send, from the same variables."""
    user = environ.get("MLFLOW_TRACKING_USERNAME")
    password = environ.get("MLFLOW_TRACKING_PASSWORD")
    token = environ.get("MLFLOW_TRACKING_TOKEN")
    if user and password:
        return urllib3.util.make_headers(basic_auth=f"{user}:{password}")
    if token:
        return {"Authorization": f"Bearer {token}"}
    return {}


@dataclass(frozen=True)
class Response:
    status: int
    content: bytes
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self):
        return orjson.loads(self.content)


class MlflowRest:
    def __init__(self, base_url: str, *, timeout: float = 10.0, retries: int = 1, auth=None):
        self.base = base_url.rstrip("/")
        self.timeout, self.retries = timeout, max(0, retries)
        self.headers = credentials_from_env() if auth is None else dict(auth)
        self.pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=timeout))

    # --- transport ---------------------------------------------------------------------------
    def request(
        self, method: str, path: str, what: str, *, params=None, json=None, data=None, mime=None
    ) -> Response:
        """The response of a call that succeeded; ModelNotFound or RegistryUnavailable else.
        `json` is sent as JSON; `data` (bytes) as they are, with content type `mime`."""
        url = f"{self.base}{path}" + (f"?{urlencode(params)}" if params else "")
        headers, body = dict(self.headers), data
        if json is not None:
            body, headers["Content-Type"] = orjson.dumps(json), "application/json"
        elif data is not None:
            headers["Content-Type"] = mime or "application/octet-stream"
        attempts = 1 + (self.retries if method == "GET" else 0)
        for attempt in range(attempts):
            try:
                raw = self.pool.request(method, url, body=body, headers=headers)
            except urllib3.exceptions.HTTPError as exc:
                if attempt + 1 < attempts:
                    continue
                raise RegistryUnavailable(f"MLflow at {self.base}: {what}: {exc}") from exc
            response = Response(raw.status, raw.data, raw.reason or "")
            if response.status >= 500 and attempt + 1 < attempts:
                continue
            break
        if response.ok:
            return response
        raise self._error(response, what)

    def _error(self, response: Response, what: str) -> Exception:
        try:
            body = response.json()
            code, message = body.get("error_code"), body.get("message", "")
        except (ValueError, AttributeError):
            code, message = None, " ".join(response.text.split())[:200]
        if code in NOT_FOUND_CODES:
            return ModelNotFound(f"{what}: not found")
        if response.status in (401, 403):
            message = f"refused the API's credentials ({response.status}): {message}"
        return MlflowRestError(
            f"MLflow at {self.base}: {what}: {message or response.reason}",
            response.status,
            code,
        )

    def _get(self, path: str, what: str, **params) -> dict:
        return self.request("GET", path, what, params=params).json()

    def _pages(self, path: str, key: str, what: str, **params) -> Iterator[dict]:
        token = None
        while True:
            page = self._get(path, what, **params, **({"page_token": token} if token else {}))
            yield from page.get(key, [])
            token = page.get("next_page_token")
            if not token:
                return

    # --- the registry ------------------------------------------------------------------------
    def get_model_version(self, name: str, version: str) -> ModelVersion:
        data = self._get(
            "/api/2.0/mlflow/model-versions/get", f"{name}/{version}", name=name, version=version
        )
        return ModelVersion.from_json(data["model_version"])

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        data = self._get(
            "/api/2.0/mlflow/registered-models/alias", f"{name}@{alias}", name=name, alias=alias
        )
        return ModelVersion.from_json(data["model_version"])

    def search_model_versions(self, name: str | None = None) -> list[ModelVersion]:
        params = {"max_results": PAGE_SIZE}
        if name is not None:
            params["filter"] = f"name='{name}'"
        pages = self._pages(
            "/api/2.0/mlflow/model-versions/search", "model_versions", name or "versions", **params
        )
        return [ModelVersion.from_json(v) for v in pages]

    def get_registered_model(self, name: str) -> RegisteredModel:
        data = self._get("/api/2.0/mlflow/registered-models/get", name, name=name)
        return RegisteredModel.from_json(data["registered_model"])

    def search_registered_models(self) -> list[RegisteredModel]:
        pages = self._pages(
            "/api/2.0/mlflow/registered-models/search",
            "registered_models",
            "registered models",
            max_results=PAGE_SIZE,
        )
        return [RegisteredModel.from_json(m) for m in pages]

    def run_metric(self, run_ids: list[str], metric: str) -> dict[str, float | None]:
        """run_id -> the run's latest value of `metric`, for runs of any experiment."""
        experiments = [
            e["experiment_id"]
            for e in self._post_pages(
                "/api/2.0/mlflow/experiments/search",
                "experiments",
                {"max_results": PAGE_SIZE, "view_type": "ALL"},
            )
        ]
        found: dict[str, float | None] = {}
        for start in range(0, len(run_ids), 100):
            quoted = ", ".join(f"'{r}'" for r in run_ids[start : start + 100])
            body = {
                "experiment_ids": experiments,
                "filter": f"attributes.run_id IN ({quoted})",
                "run_view_type": "ALL",
                "max_results": PAGE_SIZE,
            }
            for run in self._post_pages("/api/2.0/mlflow/runs/search", "runs", body):
                metrics = {m["key"]: m["value"] for m in run.get("data", {}).get("metrics", [])}
                found[run["info"]["run_id"]] = metrics.get(metric)
        return found

    def _post_pages(self, path: str, key: str, body: dict) -> Iterator[dict]:
        token = None
        while True:
            page = self.request("POST", path, key, json={**body, "page_token": token}).json()
            yield from page.get(key, [])
            token = page.get("next_page_token")
            if not token:
                return

    # --- artifacts ---------------------------------------------------------------------------
    def download_run_artifact(self, run_id: str, path: str) -> bytes:
        """A run's artifact through the tracking server (proxied or not): the API holds no keys.
        ModelNotFound when the file does not exist: MLflow answers that with a 500 whose message
        carries the store's own "not found" (S3's 404, a missing local file)."""
        what = f"artifact {path} of run {run_id}"
        try:
            response = self.request(
                "GET", "/get-artifact", what, params={"run_id": run_id, "path": path}
            )
        except MlflowRestError as exc:
            if exc.status is not None and MISSING_ARTIFACT.search(str(exc)):
                raise ModelNotFound(f"{what}: not found") from exc
            raise
        return response.content

    def server_version(self) -> str:
        """The tracking server's MLflow version (GET /version)."""
        return self.request("GET", "/version", "version").text.strip()

    # --- health ------------------------------------------------------------------------------
    def reachable(self, path: str) -> bool:
        try:
            self.request("GET", path, "probe")
        except (ModelNotFound, RegistryUnavailable):
            return False
        return True

    # --- webhooks ----------------------------------------------------------------------------
    def list_webhooks(self) -> list[dict]:
        return list(
            self._pages("/api/2.0/mlflow/webhooks", "webhooks", "webhooks", max_results=100)
        )

    def create_webhook(self, body: dict) -> dict:
        return self.request("POST", "/api/2.0/mlflow/webhooks", "create webhook", json=body).json()

    def update_webhook(self, webhook_id: str, body: dict) -> dict:
        path = f"/api/2.0/mlflow/webhooks/{quote(webhook_id, safe='')}"
        return self.request("PATCH", path, "update webhook", json=body).json()

    def delete_webhook(self, webhook_id: str) -> None:
        path = f"/api/2.0/mlflow/webhooks/{quote(webhook_id, safe='')}"
        self.request("DELETE", path, "delete webhook")
