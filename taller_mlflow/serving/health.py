"""What loading a new model needs, each checked with the API's own credentials."""

import os

import requests


def request_auth() -> dict:
    """requests keyword arguments carrying the credentials MLflow's own client reads from the
    environment (MLFLOW_TRACKING_USERNAME/PASSWORD, or MLFLOW_TRACKING_TOKEN)."""
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if user and password:
        return {"auth": (user, password)}
    if token:
        return {"headers": {"Authorization": f"Bearer {token}"}}
    return {}


class RegistryProbe:
    """registry_reachable: the server answers an authenticated registry query, which reads its
    backend store (so a refused login or a down PostgreSQL count as unreachable; /health checks
    neither). artifacts_reachable: the server lists the root of its proxied artifact store (a
    down S3 or a missing bucket count as unreachable)."""

    def __init__(self, tracking_uri: str, timeout: float = 2.0):
        self.base, self.timeout = tracking_uri.rstrip("/"), timeout

    def _ok(self, path: str) -> bool:
        try:
            return requests.get(f"{self.base}{path}", timeout=self.timeout, **request_auth()).ok
        except requests.RequestException:
            return False

    def __call__(self) -> dict[str, bool]:
        registry = self._ok("/api/2.0/mlflow/registered-models/search?max_results=1")
        artifacts = registry and self._ok("/api/2.0/mlflow-artifacts/artifacts?path=")
        return {"registry_reachable": registry, "artifacts_reachable": artifacts}
