"""Load a registered version's scikit-learn model through one explicitly configured server.

`mlflow.sklearn.load_model("models:/...")` resolves the registry through MLflow's process-global
URI, whatever the API was configured with. Here the version's download URI comes from our own
client and the files are fetched with our tracking URI, then the model is read from local disk.
Fetching errors are the registry's (ModelNotFound / RegistryUnavailable); errors reading the
model are the version's own, and ModelCache records them.
"""

import tempfile

import mlflow
import requests
from mlflow.exceptions import MlflowException

from taller_mlflow.serving.cache import Fetched
from taller_mlflow.serving.refs import ModelNotFound, RegistryUnavailable, is_not_found


class MlflowLoader:
    def __init__(self, client, tracking_uri: str):
        self.client, self.tracking_uri = client, tracking_uri

    def __call__(self, name: str, version: str) -> Fetched:
        with tempfile.TemporaryDirectory(prefix="model-") as tmp:
            path, run_id = self._download(name, version, tmp)
            return Fetched(mlflow.sklearn.load_model(path), run_id, signature_inputs(path))

    def _download(self, name: str, version: str, dst: str) -> tuple[str, str | None]:
        try:
            run_id = self.client.get_model_version(name, version).run_id
            uri = self.client.get_model_version_download_uri(name, version)
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=uri,
                dst_path=dst,
                tracking_uri=self.tracking_uri,
                registry_uri=self.tracking_uri,
            )
        except MlflowException as exc:
            if is_not_found(exc):
                raise ModelNotFound(f"model {name}/{version} not found") from exc
            raise RegistryUnavailable(f"cannot fetch {name}/{version}: {exc.message}") from exc
        except (OSError, requests.RequestException) as exc:
            raise RegistryUnavailable(f"cannot fetch {name}/{version}: {exc}") from exc
        return path, run_id


def signature_inputs(path: str) -> list[tuple[str, str]] | None:
    """[(column, MLflow type)] from the MLmodel file's signature, None when none was logged."""
    signature = mlflow.models.Model.load(path).signature
    if signature is None or signature.inputs is None:
        return None
    return [(col["name"], col["type"]) for col in signature.inputs.to_dict()]
