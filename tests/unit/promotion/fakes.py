"""An in-memory model registry answering the calls the promotion gate and its lease make, with
MLflow's own entities and error codes; and models that get a chosen share of rows right."""

import threading

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
from taller_mlflow.promotion.probe import ProbeResult

NAME = "modelo_penguins"
SPECIES = ["Adelie", "Chinstrap", "Gentoo"]


def rest_error(code: str, message: str) -> RestException:
    return RestException({"error_code": code, "message": message})


class FakeRegistry:
    def __init__(self):
        self.lock = threading.Lock()
        self.models: dict[str, dict] = {}
        self.log: list[tuple] = []

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

    def set_registered_model_alias(self, name, alias, version):
        with self.lock:
            self.log.append(("set_registered_model_alias", alias, str(version)))
            self._model(name)["aliases"][alias] = str(version)


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
    """The gate's injected parts: per-version models, probe answers and evaluation rows."""

    def __init__(self, registry: FakeRegistry):
        self.registry = registry
        self.models: dict[str, object] = {}
        self.broken: dict[str, Exception] = {}
        self.probes: dict[str, ProbeResult] = {}
        self.rows: dict[str, pd.DataFrame | None] = {}
        self.fast_path_fails: set[str] = set()
        self.probed: list[str] = []

    def probe(self, tracking_uri, name, version):
        self.probed.append(version)
        return self.probes.get(version, ProbeResult(True, True, "3 example rows -> [...]"))

    def loader(self, name, version):
        if version in self.broken:
            raise self.broken[version]
        return self.models[version]

    def eval_rows(self, client, name, version):
        from taller_mlflow.promotion.evaluation import EvalRowsMissing

        rows = self.rows.get(version, eval_rows())
        if rows is None:
            raise EvalRowsMissing(f"{name}/{version} has no readable evaluation/eval_rows.csv")
        return rows

    def fast_path(self, model, rows):
        from taller_mlflow.promotion.checks import FAST_PATH, Check

        for version, candidate in self.models.items():
            if candidate is model and version in self.fast_path_fails:
                return Check(FAST_PATH, False, "single-row: 3 of 100 predicted classes differ")
        return Check(FAST_PATH, True, "same classes and probabilities on 100 rows")
