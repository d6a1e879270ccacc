"""What loading a new model needs, each checked with the API's own credentials."""

from taller_mlflow.serving.mlflow_rest import MlflowRest

REGISTRY_PATH = "/api/2.0/mlflow/registered-models/search?max_results=1"
ARTIFACTS_PATH = "/api/2.0/mlflow-artifacts/artifacts?path="


class RegistryProbe:
    """registry_reachable: the server answers an authenticated registry query, which reads its
    backend store (so a refused login or a down PostgreSQL count as unreachable; /health checks
    neither). artifacts_reachable: the server lists the root of its proxied artifact store (a
    down S3 or a missing bucket count as unreachable)."""

    def __init__(self, tracking_uri: str, timeout: float = 2.0):
        self.rest = MlflowRest(tracking_uri, timeout=timeout, retries=0)

    def __call__(self) -> dict[str, bool]:
        registry = self.rest.reachable(REGISTRY_PATH)
        artifacts = registry and self.rest.reachable(ARTIFACTS_PATH)
        return {"registry_reachable": registry, "artifacts_reachable": artifacts}
