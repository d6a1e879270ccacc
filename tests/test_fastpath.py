"""The ONNX fast path agrees with scikit-learn on every penguin; when it can't, scikit-learn serves.

Real models, trained here on the shipped CSV with the project's own pipeline; no mocks.
"""

import logging
import time

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from taller_mlflow.data import CATEGORICAL, CSV_PATH, FEATURES, NUMERIC, TARGET, clean, read_csv
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
from taller_mlflow.local import api_server, free_port, start_stack
from taller_mlflow.model import build_pipeline
from taller_mlflow.serving import LoadedModel
from taller_mlflow.train import pip_requirements

FAILED = "scikit-learn (fast path failed: "


def training_data():
    frame = clean(read_csv()).frame
    return frame[FEATURES], frame[TARGET]


def fitted(pipeline):
    x, y = training_data()
    return pipeline.fit(x, y)


def production_like(seed: int = 42) -> Pipeline:
    """The project's pipeline at the largest point of its grid (100 trees, depth 10)."""
    pipe = build_pipeline(seed)
    pipe.set_params(classifier__n_estimators=100, classifier__max_depth=10)
    return fitted(pipe)


def unconvertible() -> Pipeline:
    """A real pipeline skl2onnx cannot convert: FunctionTransformer with a non-identity function."""
    preprocess = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ("numeric", FunctionTransformer(np.log1p), NUMERIC),
        ]
    )
    return fitted(
        Pipeline([("preprocess", preprocess), ("classifier", RandomForestClassifier(20))])
    )


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


def test_shipped_verification_csv_is_the_mysql_init_csv():
    from importlib import resources

    shipped = resources.files("taller_mlflow").joinpath("penguins_size.csv").read_bytes()
    assert shipped == CSV_PATH.read_bytes()


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


def test_background_compile_serves_scikit_learn_until_onnx_is_verified():
    sk_model = production_like()
    model = loaded(sk_model)
    rows = verification_rows()
    expected = sk_model.predict_proba(pd.DataFrame(rows, columns=FEATURES))
    thread = compile_fast_path_in_background(model)
    assert model.fast_status in (COMPILING, "onnxruntime")
    np.testing.assert_allclose(model.predict_proba(rows), expected, rtol=0, atol=PROBA_ATOL)
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


@pytest.mark.services
def test_listar_modelos_shows_which_inference_each_loaded_version_uses(tmp_path):
    """Real MLflow (PostgreSQL + S3) and the real API process: one version compiles, one can't."""
    stack = start_stack(tmp_path / "stack")
    api = None
    try:
        mlflow.set_tracking_uri(stack.tracking_uri)
        mlflow.set_registry_uri(stack.tracking_uri)
        mlflow.set_experiment("fastpath")  # not an experiment id left over from another test
        for name, sk_model in (("fast_ok", production_like()), ("fast_ko", unconvertible())):
            with mlflow.start_run():
                mlflow.sklearn.log_model(
                    sk_model,
                    name="model",
                    serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
                    pip_requirements=pip_requirements(),
                    registered_model_name=name,
                )
        port = free_port()
        api = api_server(port, stack.tracking_uri, tmp_path / "api.log").start(timeout=120)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            penguin = verification_rows()[0]
            for name in ("fast_ok", "fast_ko"):
                response = http.post("/predict", json={**penguin, "model": name})
                assert response.status_code == 200, response.text
                assert response.json()["prediction"] == "Adelie"
            inference = {}
            deadline = time.monotonic() + 120  # compiling runs in the background: poll, bounded
            while time.monotonic() < deadline:
                listing = http.get("/listar_modelos").json()
                inference = {
                    m["name"]: m["versions"][0]["inference"]
                    for m in listing["modelos"]
                    if m["name"] in ("fast_ok", "fast_ko")
                }
                if COMPILING not in inference.values():
                    break
                time.sleep(0.5)
        assert inference["fast_ok"] == "onnxruntime"
        assert inference["fast_ko"].startswith(FAILED)
        log_text = (tmp_path / "api.log").read_text()
        assert "fast_ko/1: fast path disabled, serving with scikit-learn" in log_text
    finally:
        if api:
            api.stop()
        stack.close()
