"""The gate's four checks on a candidate version, each one a Check(name, passed, detail), in the
order they run:

1. its ONNX graph agrees with scikit-learn, through the API's own runtime, on its held-out
   evaluation rows and on every penguin of the packaged CSV; when it does, the graph and its
   manifest are logged with the version and the version is tagged `serving.*`: the API serves
   a version from nothing else (taller_mlflow.promotion.serving_artifact);
2. it loads in a fresh process with no S3 keys exactly as the API will (its verified serving
   artifact, over REST, no pickle), and 3. predicts its registered input example there (both
   from one probe: taller_mlflow.promotion.probe);
4. its accuracy on the evaluation rows is at least production's on the same rows, minus a
   tolerance. With no production version yet, there is nothing to be worse than: it passes.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score

from taller_mlflow.mlflow_setup import is_transient
from taller_mlflow.promotion.evaluation import split_rows
from taller_mlflow.promotion.probe import ProbeResult

SERVING = "ONNX graph verified against scikit-learn"
LOADS = "loads in a fresh process without S3 keys"
PREDICTS = "predicts its input example"
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
    graph = f" (sha256 {result.sha256[:12]})" if result.sha256 else ""
    loaded = Check(LOADS, True, f"its verified ONNX graph{graph}, through the tracking server")
    return [loaded, Check(PREDICTS, result.predicted, result.detail)]


def serving_check(client, name: str, version: str, fitted, rows) -> Check:
    """Build the candidate's graph, verify it against scikit-learn and, when it agrees, log it
    with the version as its serving artifact (`fitted` is a promotion.fitted.Fitted). A registry
    briefly away is raised, not failed: training's promote_retrying tries the promotion again."""
    from taller_mlflow.promotion.serving_artifact import export

    try:
        done = export(
            client, name, version, fitted.run_id, fitted.sk_model, rows, fitted.input_example
        )
    except Exception as exc:  # noqa: BLE001 - any failure to convert, agree or log fails it
        if is_transient(exc):
            raise
        return Check(SERVING, False, one_line(exc))
    return Check(SERVING, True, done.line())


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
