"""Inference fast path: the fitted scikit-learn pipeline compiled to ONNX, run by onnxruntime.

`compile_fast_path(model)` is ModelRegistry's load-time hook. It converts the pipeline with
skl2onnx, then VERIFIES it against the scikit-learn model on every penguin of the shipped
Palmer CSV (taller_mlflow/penguins_size.csv, the one copy, which mysql-init/penguins_size.csv links to,
packaged so the API image has it): the predicted class must be the same and every probability
within PROBA_ATOL. Only then does it set `model.fast`; on any failure the model keeps predicting
with scikit-learn and `model.fast_status` says why (shown by /listar_modelos and logged).

Exactness: scikit-learn's trees compare float32 features against float64 thresholds, after the
ColumnTransformer has worked in float64. The converted graph therefore takes the numbers as
float64, scales them in float64, casts to float32 (skl2onnx's CastTransformer) and only then runs
the tree ensemble, whose thresholds skl2onnx adjusts for float32 comparisons.
"""

import logging
import threading

import numpy as np
import pandas as pd

from taller_mlflow.penguins import CATEGORICAL, FEATURES, NUMERIC, clean, read_csv

log = logging.getLogger(__name__)

PROBA_ATOL = 1e-5  # onnxruntime sums the trees' leaf probabilities in float32
ONNX_OPSETS = {"": 17, "ai.onnx.ml": 3}


class FastPathError(RuntimeError):
    """The pipeline cannot be compiled, or the compiled one disagrees with scikit-learn."""


def verification_rows() -> list[dict]:
    """API-shaped rows for every penguin in the shipped CSV that the API could be asked about.

    The 333 complete rows as they are; the 9 rows whose only gap is `sex` once as MALE and once
    as FEMALE (the API requires a sex); the 2 rows with no measurements at all cannot be sent to
    the API and are skipped. 351 rows in all.
    """
    raw = read_csv()
    complete = clean(raw).frame
    rows = complete[FEATURES].to_dict("records")
    measured = raw.dropna(subset=NUMERIC)
    sexless = measured[measured["sex"].isna() | measured["sex"].astype(str).str.strip().eq(".")]
    for record in sexless[FEATURES].to_dict("records"):
        for sex in ("MALE", "FEMALE"):
            rows.append({**record, "sex": sex})
    return [
        {
            **{c: str(r[c]).strip() for c in CATEGORICAL},
            **{c: float(r[c]) for c in NUMERIC},
        }
        for r in rows
    ]


class OnnxPipeline:
    """predict_proba(rows) with one onnxruntime session; rows are the API's penguin dicts."""

    def __init__(self, onnx_bytes: bytes, classes: list[str], threads: int = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
        self.classes = classes
        self.n_onnx_bytes = len(onnx_bytes)
        names = [i.name for i in self.session.get_inputs()]
        if names != FEATURES:
            raise FastPathError(f"ONNX inputs {names} are not {FEATURES}")
        self._outputs = ["probabilities"]

    def feeds(self, rows: list[dict]) -> dict[str, np.ndarray]:
        if len(rows) == 1:
            r = rows[0]
            return {
                "island": np.array([[r["island"]]], dtype=object),
                "sex": np.array([[r["sex"]]], dtype=object),
                "culmen_length_mm": np.array([[r["culmen_length_mm"]]], dtype=np.float64),
                "culmen_depth_mm": np.array([[r["culmen_depth_mm"]]], dtype=np.float64),
                "flipper_length_mm": np.array([[r["flipper_length_mm"]]], dtype=np.float64),
                "body_mass_g": np.array([[r["body_mass_g"]]], dtype=np.float64),
            }
        out = {}
        for c in CATEGORICAL:
            out[c] = np.array([r[c] for r in rows], dtype=object).reshape(-1, 1)
        for c in NUMERIC:
            out[c] = np.array([r[c] for r in rows], dtype=np.float64).reshape(-1, 1)
        return out

    def predict_proba(self, rows: list[dict]) -> np.ndarray:
        return self.session.run(self._outputs, self.feeds(rows))[0]

    def predict_proba_columns(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """One 1-D array per feature, as app/columns.py makes them: no per-row Python objects."""
        feeds = {c: features[c].reshape(-1, 1) for c in FEATURES}
        return self.session.run(self._outputs, feeds)[0]


def _is_tree_model(estimator) -> bool:
    return hasattr(estimator, "tree_") or hasattr(estimator, "estimators_")


def to_onnx(sk_model) -> bytes:
    """Convert a fitted Pipeline(preprocess..., classifier) taking FEATURES to ONNX bytes."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
    from skl2onnx.sklapi import CastTransformer
    from sklearn.pipeline import Pipeline

    if not isinstance(sk_model, Pipeline):
        raise FastPathError(f"not a Pipeline: {type(sk_model).__name__}")
    names = list(getattr(sk_model, "feature_names_in_", []))
    if names != FEATURES:
        raise FastPathError(f"pipeline features {names} are not {FEATURES}")
    classifier = sk_model.steps[-1][1]
    steps = list(sk_model.steps)
    if _is_tree_model(classifier) and len(steps) > 1:
        # What the trees see in scikit-learn: float64 preprocessing, then float32.
        cast = CastTransformer(dtype=np.float32)
        cast.fit(np.zeros((1, int(classifier.n_features_in_)), dtype=np.float64))
        steps.insert(-1, ("cast_float32", cast))
    pipeline = Pipeline(steps)
    types = [(c, StringTensorType([None, 1])) for c in CATEGORICAL]
    types += [(c, DoubleTensorType([None, 1])) for c in NUMERIC]
    onx = convert_sklearn(
        pipeline,
        initial_types=types,
        options={id(classifier): {"zipmap": False}},
        target_opset=ONNX_OPSETS,
    )
    return onx.SerializeToString()


def verify(fast, sk_model, classes: list[str], rows: list[dict]) -> None:
    """Raise FastPathError unless `fast` agrees with scikit-learn on `rows`: batched, one by one,
    and as columns (the columnar protocols' path)."""
    frame = pd.DataFrame(rows, columns=FEATURES)
    expected = np.asarray(sk_model.predict_proba(frame), dtype=np.float64)
    expected_labels = np.asarray([str(c) for c in sk_model.predict(frame)])
    got = np.asarray(fast.predict_proba(rows), dtype=np.float64)
    one_by_one = np.vstack([fast.predict_proba([r]) for r in rows]).astype(np.float64)
    columns = {c: frame[c].to_numpy(dtype=object) for c in CATEGORICAL}
    columns.update({c: frame[c].to_numpy(dtype=np.float64) for c in NUMERIC})
    columnar = np.asarray(fast.predict_proba_columns(columns), dtype=np.float64)
    for what, proba in (("batch", got), ("single-row", one_by_one), ("columnar", columnar)):
        if proba.shape != expected.shape:
            raise FastPathError(f"{what} probabilities shape {proba.shape} != {expected.shape}")
        labels = np.asarray(classes)[proba.argmax(axis=1)]
        wrong = int((labels != expected_labels).sum())
        if wrong:
            raise FastPathError(f"{what}: {wrong} of {len(rows)} predicted classes differ")
        gap = float(np.abs(proba - expected).max())
        if not gap <= PROBA_ATOL:
            raise FastPathError(f"{what}: probabilities differ by up to {gap:.2e} > {PROBA_ATOL}")


def compile_fast_path(model) -> None:
    """ModelRegistry hook: set model.fast to a verified ONNX runner, else explain the fallback."""
    try:
        classes = [str(c) for c in model.sk_model.classes_]
        if classes != model.classes:
            raise FastPathError(f"classes {classes} != {model.classes}")
        fast = OnnxPipeline(to_onnx(model.sk_model), model.classes)
        rows = verification_rows()
        verify(fast, model.sk_model, model.classes, rows)
    except Exception as exc:  # noqa: BLE001 - any failure means: keep scikit-learn
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        model.fast = None
        model.fast_status = f"scikit-learn (fast path failed: {reason})"
        log.warning(
            "%s/%s: fast path disabled, serving with scikit-learn: %s",
            model.name,
            model.version,
            reason,
        )
        return
    model.fast = fast
    model.fast_status = "onnxruntime"
    log.info(
        "%s/%s: onnxruntime fast path verified on %d penguins", model.name, model.version, len(rows)
    )


COMPILING = "scikit-learn (fast path being compiled and verified)"


def compile_fast_path_in_background(model) -> threading.Thread:
    """The API's hook: serve with scikit-learn at once, switch to ONNX once it is verified.

    Converting and verifying takes about a second (mostly importing skl2onnx); doing it in a
    thread keeps it off the first prediction. Until `compile_fast_path` sets `model.fast`, the
    model predicts with scikit-learn, and /listar_modelos says so.
    """
    model.fast = None
    model.fast_status = COMPILING
    thread = threading.Thread(
        target=compile_fast_path,
        args=(model,),
        name=f"fastpath-{model.name}-{model.version}",
        daemon=True,
    )
    thread.start()
    return thread
