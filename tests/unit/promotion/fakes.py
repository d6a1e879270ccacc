"""An in-memory model registry answering the calls the promotion gate, its lease and the serving
artifact's logging make, with MLflow's own entities and error codes; the same registry seen over
REST by the API's ArtifactLoader; and models that get a chosen share of rows right."""

import threading
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.entities.model_registry import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
)
from mlflow.exceptions import RestException

from taller_mlflow.penguins import FEATURES, TARGET
from taller_mlflow.promotion.checks import SERVING, Check
from taller_mlflow.promotion.fitted import Fitted
from taller_mlflow.promotion.probe import ProbeResult
from taller_mlflow.serving import mlflow_rest
from taller_mlflow.serving.artifacts import NotServable, verified_tags
from taller_mlflow.serving.manifest import FORMAT, FORMAT_TAG, PATH_TAG, SHA256_TAG, artifact_dir
from taller_mlflow.serving.problems import ModelNotFound

NAME = "modelo_penguins"
SPECIES = ["Adelie", "Chinstrap", "Gentoo"]


def rest_error(code: str, message: str) -> RestException:
    return RestException({"error_code": code, "message": message})


class FakeRegistry:
    def __init__(self):
        self.lock = threading.Lock()
        self.models: dict[str, dict] = {}
        self.log: list[tuple] = []
        self.artifacts: dict[tuple[str, str], bytes] = {}  # (run id, path) -> content

    # --- set-up --------------------------------------------------------------------------------
    def add_version(self, name: str = NAME) -> str:
        model = self.models.setdefault(name, {"aliases": {}, "tags": {}, "versions": {}})
        version = str(len(model["versions"]) + 1)
        model["versions"][version] = {"tags": {}, "stage": "None"}
        return version

    def alias(self, alias: str = "production", name: str = NAME) -> str | None:
        return self.models[name]["aliases"].get(alias)

    def tags(self, version: str, name: str = NAME) -> dict:
        return dict(self.models[name]["versions"][version]["tags"])

    def stage(self, version: str, name: str = NAME) -> str:
        return self.models[name]["versions"][version]["stage"]

    # --- the client API ----------------------------------------------------------------------
    def _model(self, name: str) -> dict:
        if name not in self.models:
            raise rest_error("RESOURCE_DOES_NOT_EXIST", f"Registered Model {name} not found")
        return self.models[name]

    def get_registered_model(self, name):
        with self.lock:
            model = self._model(name)
            return RegisteredModel(
                name,
                tags=[RegisteredModelTag(k, v) for k, v in model["tags"].items()],
                aliases=[RegisteredModelAlias(a, v) for a, v in model["aliases"].items()],
            )

    def create_registered_model(self, name, tags=None, description=None):
        with self.lock:  # the backend's primary key: one creator wins
            self.log.append(("create_registered_model", name))
            if name in self.models:
                raise rest_error("RESOURCE_ALREADY_EXISTS", f"Registered Model {name} exists")
            self.models[name] = {"aliases": {}, "tags": dict(tags or {}), "versions": {}}

    def delete_registered_model(self, name):
        with self.lock:
            self.log.append(("delete_registered_model", name))
            self._model(name)
            del self.models[name]

    def get_model_version(self, name, version):
        with self.lock:
            model = self._model(name)
            if str(version) not in model["versions"]:
                raise rest_error("RESOURCE_DOES_NOT_EXIST", f"{name} version {version} not found")
            data = model["versions"][str(version)]
            return ModelVersion(
                name,
                str(version),
                0,
                current_stage=data["stage"],
                status="READY",
                run_id=f"run-{version}",
                tags=[ModelVersionTag(k, v) for k, v in data["tags"].items()],
                aliases=[a for a, v in model["aliases"].items() if v == str(version)],
            )

    def set_model_version_tag(self, name, version, key, value):
        with self.lock:
            self.log.append(("set_model_version_tag", version, key))
            self._model(name)["versions"][str(version)]["tags"][key] = str(value)

    def delete_model_version_tag(self, name, version, key):
        with self.lock:
            del self._model(name)["versions"][str(version)]["tags"][key]

    def transition_model_version_stage(self, name, version, stage, archive_existing_versions):
        with self.lock:
            versions = self._model(name)["versions"]
            for data in versions.values():
                if archive_existing_versions and data["stage"] == stage:
                    data["stage"] = "Archived"
            versions[str(version)]["stage"] = stage

    def search_model_versions(self, filter_string=None):
        name = filter_string.split("'")[1]
        return [self.get_model_version(name, v) for v in self._model(name)["versions"]]

    def set_registered_model_tag(self, name, key, value):
        with self.lock:
            self.log.append(("set_registered_model_tag", key))
            self._model(name)["tags"][key] = str(value)

    def set_registered_model_alias(self, name, alias, version):
        with self.lock:
            self.log.append(("set_registered_model_alias", alias, str(version)))
            self._model(name)["aliases"][alias] = str(version)

    def log_artifact(self, run_id, local_path, artifact_path=None):
        path = (
            f"{artifact_path}/{Path(local_path).name}" if artifact_path else Path(local_path).name
        )
        with self.lock:
            self.log.append(("log_artifact", run_id, path))
            self.artifacts[(run_id, path)] = Path(local_path).read_bytes()


class FakeRest:
    """The FakeRegistry as the API's MlflowRest sees it: versions and run artifacts."""

    def __init__(self, registry: FakeRegistry):
        self.registry = registry

    def get_model_version(self, name, version):
        try:
            mv = self.registry.get_model_version(name, version)
        except RestException as exc:
            raise ModelNotFound(f"{name}/{version}: not found") from exc
        return mlflow_rest.ModelVersion(name, str(version), mv.run_id, "READY", dict(mv.tags))

    def download_run_artifact(self, run_id, path):
        try:
            return self.registry.artifacts[(run_id, path)]
        except KeyError:
            raise ModelNotFound(f"artifact {path} of run {run_id}: not found") from None


def eval_rows(n: int = 100) -> pd.DataFrame:
    """n rows whose label is fixed by the row index, so a model can be made right on k of them."""
    rows = pd.DataFrame(
        {
            "island": ["Biscoe"] * n,
            "sex": ["MALE"] * n,
            "culmen_length_mm": np.arange(n, dtype=float) + 30.0,
            "culmen_depth_mm": [18.0] * n,
            "flipper_length_mm": [200.0] * n,
            "body_mass_g": [4000.0] * n,
        }
    )
    rows[TARGET] = [SPECIES[i % 3] for i in range(n)]
    return rows[[*FEATURES, TARGET]]


class RightOn:
    """A model right on the first `correct` of the rows it is given, wrong on the rest."""

    classes_ = np.array(SPECIES, dtype=object)

    def __init__(self, correct: int):
        self.correct = correct

    def predict(self, frame) -> np.ndarray:
        index = ((frame["culmen_length_mm"].to_numpy() - 30.0).round().astype(int)) % 3
        right = np.asarray(SPECIES, dtype=object)[index]
        wrong = np.asarray(SPECIES, dtype=object)[(index + 1) % 3]
        return np.where(np.arange(len(frame)) < self.correct, right, wrong)


class Fixture:
    """The gate's injected parts: per-version models, probe answers and evaluation rows. The
    serving step tags a version as the real one does, and the probe, like the real one, fails
    with the API loader's own message when a version has no verified serving artifact."""

    def __init__(self, registry: FakeRegistry):
        self.registry = registry
        self.models: dict[str, object] = {}
        self.broken: dict[str, Exception] = {}
        self.probes: dict[str, ProbeResult] = {}
        self.rows: dict[str, pd.DataFrame | None] = {}
        self.serving_fails: set[str] = set()
        self.events: list[tuple[str, str]] = []  # (step, version), in the order they ran
        self.served_rows: dict[str, object] = {}  # version -> the eval rows serving was given

    @property
    def probed(self) -> list[str]:
        return [v for step, v in self.events if step == "probe"]

    def probe(self, tracking_uri, name, version):
        self.events.append(("probe", version))
        try:
            verified_tags(name, version, self.registry.tags(version, name))
        except NotServable as exc:
            return ProbeResult(False, False, f"cannot load: NotServable: {exc}")
        return self.probes.get(
            version, ProbeResult(True, True, "3 example rows -> [...]", "ab" * 32)
        )

    def loader(self, name, version):
        if version in self.broken:
            raise self.broken[version]
        return Fitted(self.models[version], f"run-{version}", None)

    def eval_rows(self, client, name, version):
        from taller_mlflow.promotion.evaluation import EvalRowsMissing

        rows = self.rows.get(version, eval_rows())
        if rows is None:
            raise EvalRowsMissing(f"{name}/{version} has no readable evaluation/eval_rows.csv")
        return rows

    def serving(self, client, name, version, fitted, rows):
        self.events.append(("serving", version))
        self.served_rows[version] = rows
        if version in self.serving_fails:
            return Check(SERVING, False, "single-row: 3 of 451 predicted classes differ")
        for key, value in [(FORMAT_TAG, FORMAT), (PATH_TAG, artifact_dir(name, version))]:
            client.set_model_version_tag(name, version, key, value)
        client.set_model_version_tag(name, version, SHA256_TAG, "ab" * 32)
        return Check(SERVING, True, "sha256 abababababab, 451 rows compared")
