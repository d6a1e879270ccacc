"""Fetch a version's verified serving artifact through the tracking server and load it.

`ArtifactLoader(rest)(name, version)` reads the version (its run and tags), refuses one the gate
has not verified, downloads `manifest.json` and `model.onnx` from its run, checks that the graph's
sha256 equals the version's `serving.sha256` tag and the manifest's, loads the graph with
onnxruntime, and has it answer the manifest's input example as it answered the gate. Only then is
the version a ServedModel. Nothing is unpickled, and nothing of MLflow's package is imported.

The API, the gate's fresh-process probe and `python -m taller_mlflow.serving` load versions
through this one path.
"""

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from taller_mlflow.serving.manifest import (
    FORMAT,
    FORMAT_TAG,
    GRAPH_FILE,
    MANIFEST_FILE,
    PATH_TAG,
    SHA256_TAG,
    Manifest,
    artifact_dir,
    export_command,
    sha256_hex,
)
from taller_mlflow.serving.mlflow_rest import MlflowRest
from taller_mlflow.serving.onnx_model import OnnxModel, labels_of
from taller_mlflow.serving.problems import ModelNotFound


class NotServable(RuntimeError):
    """The version exists but has no usable serving artifact; the message says what to do."""


@dataclass
class ServedModel:
    """A version loaded from its verified graph."""

    name: str
    version: str
    run_id: str | None
    manifest: Manifest
    graph: OnnxModel
    load_seconds: float = 0.0

    @property
    def classes(self) -> list[str]:
        return self.graph.classes

    @property
    def sha256(self) -> str:
        return self.manifest.sha256

    @property
    def inputs(self) -> list[tuple[str, str]]:
        """[(feature, type)] for V2 metadata: "string" or "double"."""
        return [(f.name, f.type) for f in self.manifest.features]

    def predict_proba(self, columns: Mapping[str, Sequence]) -> np.ndarray:
        return self.graph.predict_proba(columns)


def verified_tags(name: str, version: str, tags: dict[str, str]) -> tuple[str, str]:
    """(artifact folder, sha256) from the version's tags; NotServable when the gate never
    verified it."""
    if tags.get(FORMAT_TAG) != FORMAT or not tags.get(SHA256_TAG):
        raise NotServable(
            f"{name}/{version} has no verified serving artifact (tags {FORMAT_TAG}={FORMAT} "
            f"and {SHA256_TAG}); verify it with `{export_command(name, version)}`"
        )
    return tags.get(PATH_TAG) or artifact_dir(name, version), tags[SHA256_TAG]


def smoke_check(model: ServedModel) -> None:
    """The graph must answer the manifest's input example here as it answered the gate."""
    manifest = model.manifest
    proba = np.asarray(model.predict_proba(manifest.input_example), dtype=np.float64)
    expected = np.asarray(manifest.expected_probabilities, dtype=np.float64)
    if proba.shape != expected.shape:
        raise NotServable(f"smoke prediction: shape {proba.shape}, expected {expected.shape}")
    labels = labels_of(model.classes, proba)
    if labels != list(manifest.expected_labels):
        raise NotServable(f"smoke prediction: {labels}, the gate saw {manifest.expected_labels}")
    gap = float(np.abs(proba - expected).max()) if proba.size else 0.0
    if not gap <= manifest.parity.tolerance:
        raise NotServable(f"smoke prediction: probabilities differ by {gap:.2e} from the gate's")


class ArtifactLoader:
    def __init__(self, rest: MlflowRest):
        self.rest = rest

    def __call__(self, name: str, version: str) -> ServedModel:
        started = time.perf_counter()
        mv = self.rest.get_model_version(name, version)  # ModelNotFound, RegistryUnavailable
        folder, tagged = verified_tags(name, version, mv.tags)
        if not mv.run_id:
            raise NotServable(f"{name}/{version} has no source run to read {folder} from")
        raw_manifest = self._download(mv.run_id, f"{folder}/{MANIFEST_FILE}")
        graph_bytes = self._download(mv.run_id, f"{folder}/{GRAPH_FILE}")
        manifest = Manifest.from_json(raw_manifest)
        manifest.check(name, version, sha256_hex(graph_bytes), tagged)
        model = ServedModel(
            name, version, mv.run_id, manifest, OnnxModel(graph_bytes, manifest.classes)
        )
        smoke_check(model)
        model.load_seconds = time.perf_counter() - started
        return model

    def _download(self, run_id: str, path: str) -> bytes:
        try:
            return self.rest.download_run_artifact(run_id, path)
        except ModelNotFound as exc:  # the version exists; its file does not: the version's fault
            raise NotServable(f"{path} is missing from run {run_id}") from exc
