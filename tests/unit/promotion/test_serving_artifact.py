"""The serving artifact the gate logs is what the API's loader accepts, and nothing else is: the
manifest's contents, the order of the writes (sha256 tag last), and the round trip through
ArtifactLoader's checks, tampering included. A real fitted pipeline, an in-memory registry."""

import json

import numpy as np
import pandas as pd
import pytest

from taller_mlflow.penguins import FEATURES, TARGET, clean, read_csv
from taller_mlflow.promotion.onnx_export import to_onnx
from taller_mlflow.promotion.serving_artifact import (
    CSV_SOURCE,
    build_artifact,
    export,
    log_artifact,
    row_sources,
)
from taller_mlflow.serving.artifacts import ArtifactLoader, NotServable
from taller_mlflow.serving.manifest import (
    FORMAT_TAG,
    GRAPH_FILE,
    MANIFEST_FILE,
    PATH_TAG,
    PROBA_TOLERANCE,
    SHA256_TAG,
    Manifest,
    ManifestError,
    penguin_features,
    sha256_hex,
)
from taller_mlflow.serving.onnx_model import OnnxModel
from tests.support.models import production_like
from tests.unit.promotion.fakes import NAME, FakeRegistry, FakeRest

NOW = "2026-01-01T00:00:00+00:00"


@pytest.fixture(scope="module")
def sk_model():
    return production_like()


@pytest.fixture(scope="module")
def held_out() -> pd.DataFrame:
    return clean(read_csv()).frame[[*FEATURES, TARGET]].tail(100).reset_index(drop=True)


@pytest.fixture(scope="module")
def built(sk_model, held_out):
    sources = row_sources(held_out, "run-1")
    return build_artifact(sk_model, NAME, "1", "run-1", sources, now=lambda: NOW)


def exported(sk_model, held_out) -> tuple[FakeRegistry, str]:
    registry = FakeRegistry()
    version = registry.add_version()
    export(registry, NAME, version, f"run-{version}", sk_model, held_out)
    return registry, version


def test_the_manifest_holds_the_evidence_and_the_graphs_own_answers(sk_model, held_out, built):
    graph, manifest = built
    assert (manifest.model_name, manifest.model_version, manifest.run_id) == (NAME, "1", "run-1")
    assert manifest.sha256 == sha256_hex(graph) and manifest.created_at == NOW
    assert manifest.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert manifest.features == penguin_features()
    parity = manifest.parity
    assert parity.rows == 100 + 351 and parity.tolerance == PROBA_TOLERANCE
    assert 0 < parity.max_abs_diff <= PROBA_TOLERANCE
    assert parity.sources == ["held-out evaluation rows of run run-1: 100", f"{CSV_SOURCE}: 351"]
    # The example: the first held-out rows, as columns, and exactly what the graph answered.
    assert manifest.input_example == held_out[FEATURES].head(3).to_dict("list")
    answers = OnnxModel(graph, manifest.classes).predict_proba(manifest.input_example)
    assert manifest.expected_probabilities == answers.astype(np.float64).tolist()
    frame = pd.DataFrame(manifest.input_example)
    assert manifest.expected_labels == list(sk_model.predict(frame))
    assert set(manifest.versions) >= {"skl2onnx", "onnx", "onnxruntime", "scikit-learn", "mlflow"}
    assert manifest.versions["opset.ai.onnx"] and manifest.versions["opset.ai.onnx.ml"]
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_a_registered_input_example_becomes_the_manifests_example(sk_model):
    example = clean(read_csv()).frame[FEATURES].iloc[[200, 5]]
    sources = row_sources(None, "run-1")
    rows = example.to_dict("records")
    _, manifest = build_artifact(sk_model, NAME, "1", "run-1", sources, rows)
    assert manifest.input_example == example.to_dict("list")
    assert manifest.parity.sources == [f"{CSV_SOURCE}: 351"]


def test_logging_writes_both_files_then_the_tags_with_the_sha256_last(built):
    graph, manifest = built
    registry = FakeRegistry()
    version = registry.add_version()
    assert log_artifact(registry, NAME, version, "run-1", graph, manifest) == f"serving/{NAME}/v1"
    steps = [
        entry for entry in registry.log if entry[0] in ("log_artifact", "set_model_version_tag")
    ]
    assert steps == [
        ("log_artifact", "run-1", f"serving/{NAME}/v1/{GRAPH_FILE}"),
        ("log_artifact", "run-1", f"serving/{NAME}/v1/{MANIFEST_FILE}"),
        ("set_model_version_tag", version, FORMAT_TAG),
        ("set_model_version_tag", version, PATH_TAG),
        ("set_model_version_tag", version, SHA256_TAG),
    ]
    assert registry.artifacts[("run-1", f"serving/{NAME}/v1/{GRAPH_FILE}")] == graph
    assert json.loads(
        registry.artifacts[("run-1", f"serving/{NAME}/v1/{MANIFEST_FILE}")]
    ) == json.loads(manifest.to_json())
    assert registry.tags(version) == {
        FORMAT_TAG: "onnx",
        PATH_TAG: f"serving/{NAME}/v1",
        SHA256_TAG: manifest.sha256,
    }


def test_the_apis_loader_accepts_what_export_logged_and_answers_as_scikit_learn(sk_model, held_out):
    registry, version = exported(sk_model, held_out)
    served = ArtifactLoader(FakeRest(registry))(NAME, version)
    assert served.sha256 == registry.tags(version)[SHA256_TAG]
    proba = served.predict_proba(held_out[FEATURES].to_dict("list"))
    np.testing.assert_allclose(
        proba, sk_model.predict_proba(held_out[FEATURES]), rtol=0, atol=PROBA_TOLERANCE
    )


def test_a_swapped_graph_is_refused_by_its_sha256_even_though_it_runs(sk_model, held_out):
    registry, version = exported(sk_model, held_out)
    runnable = to_onnx(production_like(seed=3))  # a valid graph, just not the verified one
    registry.artifacts[(f"run-{version}", f"serving/{NAME}/v{version}/{GRAPH_FILE}")] = runnable
    with pytest.raises(ManifestError, match="refusing a graph the gate did not verify"):
        ArtifactLoader(FakeRest(registry))(NAME, version)


def test_a_manifest_copied_from_another_version_is_refused(sk_model, held_out):
    registry, version = exported(sk_model, held_out)
    second = registry.add_version()
    for file in (GRAPH_FILE, MANIFEST_FILE):
        content = registry.artifacts[(f"run-{version}", f"serving/{NAME}/v{version}/{file}")]
        registry.artifacts[(f"run-{second}", f"serving/{NAME}/v{second}/{file}")] = content
    for key, value in registry.tags(version).items():
        registry.set_model_version_tag(NAME, second, key, value.replace("v1", f"v{second}"))
    with pytest.raises(ManifestError, match=f"manifest is for {NAME}/1, not {NAME}/2"):
        ArtifactLoader(FakeRest(registry))(NAME, second)


def test_a_version_never_exported_is_not_servable_and_the_loader_names_the_export_command():
    registry = FakeRegistry()
    version = registry.add_version()
    with pytest.raises(NotServable, match=f"--export {version}`"):
        ArtifactLoader(FakeRest(registry))(NAME, version)


def test_exporting_again_rewrites_the_same_graph_and_says_so(sk_model, held_out):
    registry, version = exported(sk_model, held_out)
    sha = registry.tags(version)[SHA256_TAG]
    again = export(registry, NAME, version, f"run-{version}", sk_model, held_out)
    assert (again.sha256, again.previous_sha256) == (sha, sha)
    assert "re-verified, same sha256 as before" in again.line()
    assert ("delete_model_version_tag",) not in [e[:1] for e in registry.log]
    ArtifactLoader(FakeRest(registry))(NAME, version)


def test_a_different_graph_replaces_the_old_one_and_its_tag_goes_first(sk_model, held_out):
    registry, version = exported(sk_model, held_out)
    graph_key = (f"run-{version}", f"serving/{NAME}/v{version}/{GRAPH_FILE}")
    old_graph, before = registry.artifacts[graph_key], registry.tags(version)[SHA256_TAG]
    deleted = []  # (tag, its value, the graph stored when it was deleted)
    registry.delete_model_version_tag = lambda name, v, key: deleted.append(
        (key, registry.models[name]["versions"][v]["tags"].pop(key), registry.artifacts[graph_key])
    )
    again = export(registry, NAME, version, f"run-{version}", production_like(seed=3), held_out)
    assert again.sha256 != before and again.previous_sha256 == before
    assert deleted == [(SHA256_TAG, before, old_graph)]  # gone before the graph was rewritten
    assert registry.artifacts[graph_key] != old_graph
    assert f"replaced {before[:12]}" in again.line()
    ArtifactLoader(FakeRest(registry))(NAME, version)
