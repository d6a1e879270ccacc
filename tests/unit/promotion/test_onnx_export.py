"""The ONNX graph agrees with scikit-learn on every penguin, through the API's own runtime, and the
verification says what it compared; a graph that disagrees, or a model that cannot be converted,
is refused with the reason.

Real models, trained here on the packaged CSV with the project's own pipeline, in-process.
"""

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taller_mlflow.penguins import FEATURES, NUMERIC, read_csv
from taller_mlflow.promotion.onnx_export import (
    GRAPH_NAME,
    ConversionError,
    Evidence,
    ParityError,
    compare,
    opsets_of,
    runtime_of,
    to_onnx,
    verification_rows,
    verify,
)
from taller_mlflow.serving.manifest import PROBA_TOLERANCE
from taller_mlflow.serving.onnx_model import OnnxModel, labels_of
from taller_mlflow.training.model import build_pipeline
from tests.support.models import fitted, production_like, unconvertible


@pytest.fixture(scope="module")
def sk_model():
    return production_like()


@pytest.fixture(scope="module")
def graph_bytes(sk_model) -> bytes:
    return to_onnx(sk_model)


def api_rows_of_every_penguin() -> list[dict]:
    """Each of the CSV's 344 rows as the API can receive it (a penguin needs measurements and a
    sex: rows without sex are sent as both sexes, the 2 rows without measurements can't be sent)."""
    raw = read_csv()
    assert len(raw) == 344
    rows = []
    for record in raw[FEATURES].to_dict("records"):
        if any(pd.isna(record[c]) for c in NUMERIC):
            continue
        sexes = [record["sex"]] if isinstance(record["sex"], str) else ["MALE", "FEMALE"]
        for sex in sexes:
            rows.append({**record, "sex": sex.strip().upper()})
    return rows


def test_verification_rows_cover_every_penguin_the_api_can_receive():
    rows = verification_rows()
    key = lambda r: tuple(r[c] for c in FEATURES)  # noqa: E731
    assert sorted(map(key, rows)) == sorted(map(key, api_rows_of_every_penguin()))
    assert len(rows) == 333 + 2 * 9


def test_the_graph_in_the_apis_runtime_agrees_with_scikit_learn_on_all_344_rows(
    sk_model, graph_bytes
):
    graph = OnnxModel(graph_bytes, [str(c) for c in sk_model.classes_])
    rows = api_rows_of_every_penguin()
    frame = pd.DataFrame(rows, columns=FEATURES)
    expected = sk_model.predict_proba(frame)
    for proba in (
        graph.predict_proba({c: frame[c].tolist() for c in FEATURES}),  # batched
        np.vstack([graph.predict_proba({c: [r[c]] for c in FEATURES}) for r in rows]),  # one by one
    ):
        assert labels_of(graph.classes, proba) == [str(c) for c in sk_model.predict(frame)]
        np.testing.assert_allclose(proba, expected, rtol=0, atol=PROBA_TOLERANCE)


def test_verification_returns_the_rows_compared_and_the_largest_difference(sk_model, graph_bytes):
    rows = verification_rows()
    evidence = verify(runtime_of(graph_bytes, sk_model), sk_model, rows)
    graph_proba = OnnxModel(graph_bytes, list(sk_model.classes_)).predict_proba(
        {c: [r[c] for r in rows] for c in FEATURES}
    )
    largest = float(
        np.abs(graph_proba - sk_model.predict_proba(pd.DataFrame(rows, columns=FEATURES))).max()
    )
    assert (evidence.rows, evidence.failures) == (351, [])
    assert evidence.max_abs_diff == pytest.approx(largest, abs=1e-12)
    assert 0 < evidence.max_abs_diff <= PROBA_TOLERANCE  # float32 sums: close, not identical


def test_verification_refuses_a_graph_that_disagrees_and_keeps_the_evidence(sk_model):
    """An honest disagreement: the graph of another fit (other seed, 3 trees) of the pipeline."""
    other = build_pipeline(seed=7)
    other.set_params(classifier__n_estimators=3, classifier__max_depth=2)
    graph = runtime_of(to_onnx(fitted(other)), sk_model)
    with pytest.raises(ParityError) as refused:
        verify(graph, sk_model, verification_rows())
    evidence = refused.value.evidence
    assert evidence.rows == 351 and not evidence.passed
    assert evidence.max_abs_diff > PROBA_TOLERANCE
    assert [f.split(":")[0] for f in evidence.failures[::2]] == ["batch", "single-row", "columnar"]
    assert "predicted classes differ" in str(refused.value)


def test_comparing_no_rows_is_not_a_pass(sk_model, graph_bytes):
    assert compare(runtime_of(graph_bytes, sk_model), sk_model, []) == Evidence(
        0, 0.0, ["no rows to compare"]
    )


def test_a_pipeline_skl2onnx_cannot_convert_is_refused_naming_the_step():
    with pytest.raises(ConversionError, match="skl2onnx cannot convert it: .*FunctionTransformer"):
        to_onnx(unconvertible())


def test_an_estimator_that_is_not_a_pipeline_is_refused():
    from sklearn.ensemble import RandomForestClassifier

    with pytest.raises(ConversionError, match="not a Pipeline: RandomForestClassifier"):
        to_onnx(RandomForestClassifier())


def test_converting_the_same_model_gives_the_same_bytes_in_any_process(sk_model, graph_bytes):
    """skl2onnx names graphs with a random uuid and lists opsets in set order: both are fixed, so
    re-exporting a version reproduces its sha256."""
    assert to_onnx(sk_model) == graph_bytes
    child = (
        "import hashlib; from tests.support.models import production_like; "
        "from taller_mlflow.promotion.onnx_export import to_onnx; "
        "print(hashlib.sha256(to_onnx(production_like())).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", child],
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            cwd=Path(__file__).resolve().parents[3],  # the repository: `tests` importable
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert digests == {hashlib.sha256(graph_bytes).hexdigest()}


def test_the_graph_is_named_and_declares_the_opsets_it_uses(graph_bytes):
    import onnx

    assert onnx.load_from_string(graph_bytes).graph.name == GRAPH_NAME
    opsets = opsets_of(graph_bytes)
    assert set(opsets) == {"", "ai.onnx.ml"} and opsets[""] <= 17 and opsets["ai.onnx.ml"] <= 3
