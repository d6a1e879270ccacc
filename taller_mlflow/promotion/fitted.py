"""A registered version's fitted scikit-learn model and its registered input example.

Only the promotion side unpickles models: the gate, to convert a candidate to ONNX and to score
it and production on the same held-out rows, and `--export`, to convert a version registered
before the gate logged serving artifacts. The files are fetched through the given tracking server
(`models:/` URIs would follow MLflow's process-global registry URI instead).

Fetching failures (the registry or the artifact proxy away, an unknown version) raise
MlflowException or OSError as MLflow does; a model that is fetched but will not load here raises
ModelUnloadable, the version's own fault.
"""

import logging
import tempfile
from dataclasses import dataclass

import mlflow
import pandas as pd

from taller_mlflow.promotion.onnx_export import OnnxExportError

log = logging.getLogger(__name__)


class ModelUnloadable(OnnxExportError):
    """The version's files were fetched, but its scikit-learn model does not load here."""


@dataclass(frozen=True)
class Fitted:
    sk_model: object
    run_id: str | None
    input_example: pd.DataFrame | None  # what was logged with the model, if anything

    def predict(self, frame):
        return self.sk_model.predict(frame)


def registered_example(path: str) -> pd.DataFrame | None:
    """The input example logged with the model in `path`, None when there is none (or it cannot
    be read: it is a convenience for the manifest, never a reason to refuse a version)."""
    try:
        example = mlflow.models.Model.load(path).load_input_example(path)
    except Exception:  # noqa: BLE001 - see the docstring
        log.warning("could not read the input example in %s", path, exc_info=True)
        return None
    return example if isinstance(example, pd.DataFrame) and len(example) else None


def fitted_loader(client, tracking_uri: str):
    """(name, version) -> Fitted, fetched through `client` and `tracking_uri`."""

    def load(name: str, version: str) -> Fitted:
        run_id = client.get_model_version(name, str(version)).run_id
        uri = client.get_model_version_download_uri(name, str(version))
        with tempfile.TemporaryDirectory(prefix="fitted-") as tmp:
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=tmp, tracking_uri=tracking_uri, registry_uri=tracking_uri
            )
            try:
                sk_model = mlflow.sklearn.load_model(path)
            except Exception as exc:  # noqa: BLE001 - a pickle fails in as many ways as it likes
                reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
                raise ModelUnloadable(
                    f"{name}/{version}: its scikit-learn model does not load: {reason}"
                ) from exc
            return Fitted(sk_model, run_id, registered_example(path))

    return load
