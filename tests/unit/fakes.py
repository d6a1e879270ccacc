"""In-memory stand-ins for MLflow's REST API and the artifact loader, for in-process tests.

FakeRest answers the calls the serving core makes (taller_mlflow/serving/mlflow_rest.py), with
the same entities, errors and paging, and counts every call; `down = True` makes every call fail
as an unreachable server does. FakeLoader hands out ServedModels whose graph predicts from the
island alone, with a manifest like the gate's.
"""

import collections
import threading

import numpy as np

from taller_mlflow.penguins import FEATURES
from taller_mlflow.serving.artifacts import ServedModel
from taller_mlflow.serving.manifest import (
    FORMAT,
    FORMAT_TAG,
    PATH_TAG,
    SHA256_TAG,
    Manifest,
    Parity,
    artifact_dir,
    penguin_features,
)
from taller_mlflow.serving.mlflow_rest import ModelVersion, RegisteredModel
from taller_mlflow.serving.problems import ModelNotFound, RegistryUnavailable

CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
BY_ISLAND = {"Torgersen": 0, "Dream": 1, "Biscoe": 2}
SIGNATURE = [(f.name, f.type) for f in penguin_features()]


def verified_tags(name: str, version: str) -> dict[str, str]:
    return {
        FORMAT_TAG: FORMAT,
        SHA256_TAG: f"{int(version):064x}",
        PATH_TAG: artifact_dir(name, version),
    }


class FakeRest:
    def __init__(self, page_cap: int = 100):
        self.page_cap = page_cap
        self.models: dict[str, dict] = {}
        self.calls: collections.Counter = collections.Counter()
        self.down = False
        self.lock = threading.Lock()
        self.webhooks: list[dict] = []

    # --- set-up helpers -----------------------------------------------------------------------
    def add_version(
        self,
        name: str,
        run_id: str | None = None,
        tags: dict | None = None,
        verified: bool = True,
    ) -> str:
        model = self.models.setdefault(name, {"aliases": {}, "versions": {}})
        version = str(len(model["versions"]) + 1)
        all_tags = {**(verified_tags(name, version) if verified else {}), **(tags or {})}
        model["versions"][version] = {"run_id": run_id or f"run-{name}-{version}", "tags": all_tags}
        return version

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.models[name]["aliases"][alias] = version

    def delete_alias(self, name: str, alias: str) -> None:
        del self.models[name]["aliases"][alias]

    # --- the client's API --------------------------------------------------------------------
    def _call(self, what: str) -> None:
        with self.lock:
            self.calls[what] += 1
        if self.down:
            raise RegistryUnavailable("MLflow at http://fake-mlflow:5000: connection refused")

    def _version(self, name: str, version: str) -> ModelVersion:
        data = self.models[name]["versions"][version]
        aliases = [a for a, v in self.models[name]["aliases"].items() if v == version]
        return ModelVersion(
            name,
            version,
            data["run_id"],
            "READY",
            {k: str(v) for k, v in data["tags"].items()},
            aliases,
            1_700_000_000_000 + int(version),
            "None",
        )

    def get_model_version(self, name, version):
        self._call("get_model_version")
        if name not in self.models or str(version) not in self.models[name]["versions"]:
            raise ModelNotFound(f"{name}/{version}: not found")
        return self._version(name, str(version))

    def get_model_version_by_alias(self, name, alias):
        self._call("get_model_version_by_alias")
        if name not in self.models or alias not in self.models[name]["aliases"]:
            raise ModelNotFound(f"{name}@{alias}: not found")
        return self._version(name, self.models[name]["aliases"][alias])

    def search_model_versions(self, name=None):
        self._call("search_model_versions")
        names = sorted(self.models) if name is None else [n for n in self.models if n == name]
        return [self._version(n, v) for n in names for v in self.models[n]["versions"]]

    def get_registered_model(self, name):
        self._call("get_registered_model")
        if name not in self.models:
            raise ModelNotFound(f"{name}: not found")
        model = self.models[name]
        return RegisteredModel(name, dict(model["aliases"]), dict(model.get("tags", {})))

    def search_registered_models(self):
        self._call("search_registered_models")
        return [RegisteredModel(n, dict(m["aliases"])) for n, m in sorted(self.models.items())]

    def run_metric(self, run_ids, metric):
        self._call("run_metric")
        return {r: 0.5 for r in run_ids}

    def server_version(self):
        self._call("server_version")
        return "3.17.2"

    def reachable(self, path):
        return not self.down

    def list_webhooks(self):
        self._call("list_webhooks")
        return list(self.webhooks)


class FakeGraph:
    """Predicts from the island alone: Torgersen -> Adelie, Dream -> Chinstrap, Biscoe -> Gentoo."""

    classes = CLASSES

    def predict_proba(self, columns) -> np.ndarray:
        islands = list(columns["island"])
        proba = np.full((len(islands), 3), 0.05)
        proba[np.arange(len(islands)), [BY_ISLAND[i] for i in islands]] = 0.9
        return proba


def fake_manifest(name: str, version: str) -> Manifest:
    example = {
        "island": ["Torgersen"],
        "sex": ["MALE"],
        "culmen_length_mm": [39.1],
        "culmen_depth_mm": [18.7],
        "flipper_length_mm": [181.0],
        "body_mass_g": [3750.0],
    }
    assert list(example) == FEATURES
    return Manifest(
        model_name=name,
        model_version=version,
        run_id=f"run-{name}-{version}",
        sha256=f"{int(version):064x}",
        classes=CLASSES,
        features=penguin_features(),
        input_example=example,
        expected_labels=["Adelie"],
        expected_probabilities=[[0.9, 0.05, 0.05]],
        parity=Parity(rows=351, max_abs_diff=0.0, tolerance=1e-5, sources=["fake"]),
        versions={"onnxruntime": "fake"},
        created_at="2026-01-01T00:00:00+00:00",
    )


class FakeLoader:
    """loader(name, version): a ServedModel over FakeGraph, or raises what `broken` says for that
    version."""

    def __init__(self, broken: dict | None = None):
        self.broken = dict(broken or {})
        self.calls: collections.Counter = collections.Counter()

    def __call__(self, name: str, version: str) -> ServedModel:
        self.calls[(name, version)] += 1
        error = self.broken.get((name, version))
        if error is not None:
            raise error
        return ServedModel(
            name, version, f"run-{name}-{version}", fake_manifest(name, version), FakeGraph(), 0.01
        )
