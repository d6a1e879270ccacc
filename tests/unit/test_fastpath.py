"""The ONNX fast path agrees with scikit-learn on every penguin; when it can't, scikit-learn serves.

Real models, trained here on the packaged CSV with the project's own pipeline, in-process.
"""

import logging
import threading

import numpy as np
import pandas as pd
import pytest

from taller_mlflow import fastpath
from taller_mlflow.fastpath import (
    COMPILING,
    PROBA_ATOL,
    FastPathError,
    OnnxPipeline,
    compile_fast_path,
    compile_fast_path_in_background,
    to_onnx,
    verification_rows,
    verify,
)
from taller_mlflow.penguins import FEATURES, NUMERIC, read_csv
from taller_mlflow.serving import LoadedModel
from taller_mlflow.training.model import build_pipeline
from tests.support.models import FAILED, fitted, production_like, unconvertible


def loaded(sk_model, name="m", version="1") -> LoadedModel:
    return LoadedModel(name, version, sk_model, [str(c) for c in sk_model.classes_], 0.0)


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


def test_fast_path_agrees_with_scikit_learn_on_all_344_rows():
    sk_model = production_like()
    model = loaded(sk_model)
    compile_fast_path(model)
    assert model.fast_status == "onnxruntime"
    assert isinstance(model.fast, OnnxPipeline)

    rows = api_rows_of_every_penguin()
    frame = pd.DataFrame(rows, columns=FEATURES)
    expected = sk_model.predict_proba(frame)
    expected_labels = sk_model.predict(frame)
    for proba in (
        model.predict_proba(rows),  # what the API calls, batched
        np.vstack([model.predict_proba([r]) for r in rows]),  # and one penguin per request
    ):
        labels = np.asarray(model.classes)[proba.argmax(axis=1)]
        assert (labels == expected_labels).all()
        np.testing.assert_allclose(proba, expected, rtol=0, atol=PROBA_ATOL)


def test_background_compile_serves_scikit_learn_until_onnx_is_verified(monkeypatch):
    sk_model = production_like()
    model = loaded(sk_model)
    rows = verification_rows()
    expected = sk_model.predict_proba(pd.DataFrame(rows, columns=FEATURES))
    verifying, release = threading.Event(), threading.Event()
    real_verify = fastpath.verify

    def held_verify(*args):  # hold the compiled model at verification until the test looks
        verifying.set()
        release.wait(120)
        real_verify(*args)

    monkeypatch.setattr(fastpath, "verify", held_verify)
    thread = compile_fast_path_in_background(model)
    try:
        assert verifying.wait(120), "the background compile never reached verification"
        assert (model.fast_status, model.fast) == (COMPILING, None)
        np.testing.assert_array_equal(model.predict_proba(rows), expected)  # scikit-learn's own
    finally:
        release.set()
        thread.join(120)
    assert model.fast_status == "onnxruntime"
    assert isinstance(model.fast, OnnxPipeline)
    np.testing.assert_allclose(model.predict_proba(rows), expected, rtol=0, atol=PROBA_ATOL)


def test_verification_rejects_a_compiled_model_that_disagrees():
    """An honest disagreement: the ONNX graph of another fit (other seed, 3 trees) of the pipeline."""
    sk_model = production_like()
    other = build_pipeline(seed=7)
    other.set_params(classifier__n_estimators=3, classifier__max_depth=2)
    other_fast = OnnxPipeline(to_onnx(fitted(other)), [str(c) for c in sk_model.classes_])
    with pytest.raises(FastPathError, match="differ"):
        verify(other_fast, sk_model, [str(c) for c in sk_model.classes_], verification_rows())


def test_falls_back_to_scikit_learn_when_the_pipeline_cannot_be_converted(caplog):
    sk_model = unconvertible()
    model = loaded(sk_model, "odd", "3")
    with caplog.at_level(logging.WARNING, logger="taller_mlflow.fastpath"):
        compile_fast_path(model)
    assert model.fast is None
    assert model.fast_status.startswith(FAILED)
    assert "FunctionTransformer" in model.fast_status
    assert any(
        "odd/3" in r.getMessage() and "scikit-learn" in r.getMessage() for r in caplog.records
    )
    rows = verification_rows()
    np.testing.assert_array_equal(
        model.predict_proba(rows), sk_model.predict_proba(pd.DataFrame(rows, columns=FEATURES))
    )
