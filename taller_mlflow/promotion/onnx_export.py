"""The fitted scikit-learn pipeline compiled to ONNX, and the evidence that the graph agrees with it.

`to_onnx(sk_model)` converts the pipeline with skl2onnx into the graph the API runs
(taller_mlflow/serving/onnx_model.py: one [n, 1] input per feature, `probabilities` out).
`verify(graph, sk_model, rows)` runs that graph through the API's own runtime, `OnnxModel`, on
`rows` three ways (batched as lists, one row at a time, and as numpy columns, the columnar
protocols' path) and compares each with scikit-learn's predict_proba and predict: the same class
on every row and every probability within PROBA_TOLERANCE. It returns the evidence (rows
compared, largest difference seen) and raises ParityError, carrying it, when they disagree.

Exactness: scikit-learn's trees compare float32 features against float64 thresholds, after the
ColumnTransformer has worked in float64. The converted graph therefore takes the numbers as
float64, scales them in float64, casts to float32 (skl2onnx's CastTransformer) and only then runs
the tree ensemble, whose thresholds skl2onnx adjusts for float32 comparisons.

Reproducibility: skl2onnx names each graph with a random uuid and lists its opsets in set order.
The graph is renamed and its opsets sorted, so converting the same pickle twice, in any process,
gives the same bytes and the same sha256 (re-exporting a version rewrites what is already there).
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from taller_mlflow.penguins import CATEGORICAL, FEATURES, NUMERIC, clean, read_csv
from taller_mlflow.serving.manifest import PROBA_TOLERANCE
from taller_mlflow.serving.onnx_model import GraphError, OnnxModel, labels_of

ONNX_OPSETS = {"": 17, "ai.onnx.ml": 3}  # the highest each domain may use; skl2onnx picks lower
GRAPH_NAME = "penguin_pipeline"


class OnnxExportError(RuntimeError):
    """The version's model cannot be served from a graph: the message is one line saying why."""


class ConversionError(OnnxExportError):
    """The fitted model cannot be converted to a graph the API can run."""


class ParityError(OnnxExportError):
    """The graph answers differently from scikit-learn; `evidence` holds what was compared."""

    def __init__(self, evidence: "Evidence"):
        super().__init__("; ".join(evidence.failures))
        self.evidence = evidence


@dataclass
class Evidence:
    """What a verification compared and found; `failures` is empty when the graph agreed."""

    rows: int = 0
    max_abs_diff: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def add(self, other: "Evidence") -> "Evidence":
        return Evidence(
            self.rows + other.rows,
            max(self.max_abs_diff, other.max_abs_diff),
            [*self.failures, *other.failures],
        )


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


def _is_tree_model(estimator) -> bool:
    return hasattr(estimator, "tree_") or hasattr(estimator, "estimators_")


def _canonical(onx) -> bytes:
    """The same bytes for the same pipeline: a fixed graph name, the opsets in a fixed order."""
    onx.graph.name = GRAPH_NAME
    opsets = sorted((o.domain, o.version) for o in onx.opset_import)
    del onx.opset_import[:]
    for domain, version in opsets:
        onx.opset_import.add(domain=domain, version=version)
    return onx.SerializeToString()


def to_onnx(sk_model) -> bytes:
    """Convert a fitted Pipeline(preprocess..., classifier) taking FEATURES to ONNX bytes."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
    from skl2onnx.sklapi import CastTransformer
    from sklearn.pipeline import Pipeline

    if not isinstance(sk_model, Pipeline):
        raise ConversionError(f"not a Pipeline: {type(sk_model).__name__}")
    names = list(getattr(sk_model, "feature_names_in_", []))
    if names != FEATURES:
        raise ConversionError(f"pipeline features {names} are not {FEATURES}")
    classifier = sk_model.steps[-1][1]
    steps = list(sk_model.steps)
    if _is_tree_model(classifier) and len(steps) > 1:
        # What the trees see in scikit-learn: float64 preprocessing, then float32.
        cast = CastTransformer(dtype=np.float32)
        cast.fit(np.zeros((1, int(classifier.n_features_in_)), dtype=np.float64))
        steps.insert(-1, ("cast_float32", cast))
    types = [(c, StringTensorType([None, 1])) for c in CATEGORICAL]
    types += [(c, DoubleTensorType([None, 1])) for c in NUMERIC]
    try:
        onx = convert_sklearn(
            Pipeline(steps),
            initial_types=types,
            options={id(classifier): {"zipmap": False}},
            target_opset=ONNX_OPSETS,
        )
    except Exception as exc:  # noqa: BLE001 - skl2onnx raises many types; all mean "cannot"
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        raise ConversionError(f"skl2onnx cannot convert it: {reason}") from exc
    return _canonical(onx)


def opsets_of(graph: bytes) -> dict[str, int]:
    """{domain: opset} the graph declares ("" is ONNX's main domain)."""
    import onnx

    return {o.domain: int(o.version) for o in onnx.load_from_string(graph).opset_import}


def runtime_of(graph: bytes, sk_model) -> OnnxModel:
    """The graph in the API's runtime, with scikit-learn's classes in scikit-learn's order."""
    try:
        return OnnxModel(graph, [str(c) for c in sk_model.classes_])
    except GraphError as exc:
        raise ConversionError(str(exc)) from exc


def columns_of(rows: list[dict]) -> dict[str, list]:
    """One list per feature, as /predict turns its validated penguins into columns."""
    return {c: [r[c] for r in rows] for c in FEATURES}


def arrays_of(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """One 1-D array per feature, as the columnar protocols validate them (serving.features)."""
    out = {c: frame[c].to_numpy(dtype=object) for c in CATEGORICAL}
    out.update({c: frame[c].to_numpy(dtype=np.float64) for c in NUMERIC})
    return out


def compare(graph: OnnxModel, sk_model, rows: list[dict]) -> Evidence:
    """The graph against scikit-learn on `rows`: batched, one row at a time, and as columns."""
    if not rows:
        return Evidence(0, 0.0, ["no rows to compare"])
    frame = pd.DataFrame(rows, columns=FEATURES)
    expected = np.asarray(sk_model.predict_proba(frame), dtype=np.float64)
    expected_labels = [str(c) for c in sk_model.predict(frame)]
    ways = {
        "batch": lambda: graph.predict_proba(columns_of(rows)),
        "single-row": lambda: np.vstack([graph.predict_proba(columns_of([r])) for r in rows]),
        "columnar": lambda: graph.predict_proba(arrays_of(frame)),
    }
    evidence = Evidence(len(rows))
    for what, run in ways.items():
        proba = np.asarray(run(), dtype=np.float64)
        if proba.shape != expected.shape:
            evidence.failures.append(
                f"{what}: probabilities shape {proba.shape}, not {expected.shape}"
            )
            continue
        gap = float(np.abs(proba - expected).max())
        evidence.max_abs_diff = max(evidence.max_abs_diff, gap)
        labels = labels_of(graph.classes, proba)
        wrong = sum(a != b for a, b in zip(labels, expected_labels, strict=True))
        if wrong:
            evidence.failures.append(f"{what}: {wrong} of {len(rows)} predicted classes differ")
        if not gap <= PROBA_TOLERANCE:
            evidence.failures.append(
                f"{what}: probabilities differ by up to {gap:.2e} > {PROBA_TOLERANCE:g}"
            )
    return evidence


def verify(graph: OnnxModel, sk_model, rows: list[dict]) -> Evidence:
    """compare(), raising ParityError (with the evidence) unless the graph agreed on every row."""
    evidence = compare(graph, sk_model, rows)
    if not evidence.passed:
        raise ParityError(evidence)
    return evidence
