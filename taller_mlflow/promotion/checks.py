"""The gate's four checks on a candidate version, each one a Check(name, passed, detail).

1. it loads in a fresh process with no S3 keys, and 2. predicts its registered input example
   (both from one probe: taller_mlflow.promotion.probe);
3. its ONNX fast path agrees with scikit-learn on the evaluation rows (the API would otherwise
   serve it with scikit-learn alone, or, worse, serve different answers);
4. its accuracy on the evaluation rows is at least production's on the same rows, minus a
   tolerance. With no production version yet, there is nothing to be worse than: it passes.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score

from taller_mlflow.promotion.evaluation import as_api_rows, split_rows
from taller_mlflow.promotion.probe import ProbeResult

LOADS = "loads in a fresh process without S3 keys"
PREDICTS = "predicts its input example"
FAST_PATH = "ONNX fast path agrees with scikit-learn"
ACCURACY = "accuracy vs production"
# Accuracies are k/n: compare them without float noise deciding a tie (0.99 - 0.01 vs 0.98).
EPSILON = 1e-9


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"  [{'pass' if self.passed else 'FAIL'}] {self.name}: {self.detail}"

    def reason(self) -> str:
        return f"{self.name}: {self.detail}"


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def fresh_process_checks(result: ProbeResult) -> list[Check]:
    if not result.loaded:
        return [Check(LOADS, False, result.detail), Check(PREDICTS, False, "not loaded")]
    loaded = Check(LOADS, True, "loaded through the tracking server")
    return [loaded, Check(PREDICTS, result.predicted, result.detail)]


def fast_path_check(sk_model, frame) -> Check:
    """Compile the candidate to ONNX and verify it row by row, batched and as columns."""
    from taller_mlflow.fastpath import OnnxPipeline, to_onnx, verify

    rows = as_api_rows(frame)
    try:
        classes = [str(c) for c in sk_model.classes_]
        verify(OnnxPipeline(to_onnx(sk_model), classes), sk_model, classes, rows)
    except Exception as exc:  # noqa: BLE001 - any failure to compile or agree fails the check
        return Check(FAST_PATH, False, one_line(exc))
    return Check(FAST_PATH, True, f"same classes and probabilities on {len(rows)} rows")


def accuracy(model, frame) -> float:
    features, labels = split_rows(frame)
    predicted = np.asarray([str(p) for p in model.predict(features)], dtype=object)
    return float(accuracy_score(labels.astype(str).to_numpy(dtype=object), predicted))


def comparison_check(
    candidate: float,
    production: tuple[str, float] | None,
    tolerance: float,
    n_rows: int,
) -> Check:
    """production is (version, accuracy on the same rows), or None when nothing is in production."""
    if production is None:
        detail = f"{candidate:.4f} on {n_rows} rows; no production version to compare with"
        return Check(ACCURACY, True, detail)
    version, theirs = production
    passed = candidate + EPSILON >= theirs - tolerance
    relation = "at least" if passed else "below"
    detail = (
        f"{candidate:.4f} on {n_rows} evaluation rows is {relation} production version "
        f"{version}'s {theirs:.4f} minus tolerance {tolerance:g}"
    )
    return Check(ACCURACY, passed, detail)


def failed(name: str, exc: BaseException | str) -> Check:
    return Check(name, False, exc if isinstance(exc, str) else one_line(exc))
