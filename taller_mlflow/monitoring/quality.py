"""A version's realised quality on the labelled predictions of a window, beside its estimate.

Accuracy, macro F1 (the mean of each species' F1, over the species that were either predicted or
labelled; a species with no true or predicted row adds nothing, one with a zero denominator 0),
the confusion matrix (rows: the true species, columns: the predicted one), and how long labels
took to arrive (received_at - ts, p50 and p95 in seconds). `estimated_accuracy` is CBPE's
estimate (taller_mlflow.monitoring.cbpe) over the same rows, so the estimate can be judged.
"""

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from taller_mlflow.monitoring.cbpe import Calibration, estimate
from taller_mlflow.penguins import SPECIES


@dataclass
class Quality:
    model: str
    version: str
    labels: int
    accuracy: float
    f1_macro: float
    confusion: list[list[int]]  # SPECIES x SPECIES, true x predicted
    delay_p50_seconds: float
    delay_p95_seconds: float
    estimated_accuracy: float | None = None
    heldout_accuracy: float | None = None  # the version's test_accuracy from training
    classes: list[str] = field(default_factory=lambda: list(SPECIES))

    def floor(self, tolerance: float) -> float | None:
        """The accuracy below which the quality alarm fires."""
        return None if self.heldout_accuracy is None else self.heldout_accuracy - tolerance

    def below(self, tolerance: float) -> bool:
        floor = self.floor(tolerance)
        return floor is not None and self.accuracy < floor

    def as_dict(self) -> dict:
        return asdict(self)


def f1_macro(truth, predicted) -> float:
    truth, predicted = np.asarray(truth, dtype=object), np.asarray(predicted, dtype=object)
    scores = []
    for label in sorted(set(truth) | set(predicted)):
        tp = float(np.sum((truth == label) & (predicted == label)))
        fp = float(np.sum((truth != label) & (predicted == label)))
        fn = float(np.sum((truth == label) & (predicted != label)))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def confusion(truth, predicted, classes=SPECIES) -> list[list[int]]:
    index = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=int)
    for t, p in zip(truth, predicted, strict=True):
        if t in index and p in index:
            matrix[index[t], index[p]] += 1
    return matrix.tolist()


def top_probability(probabilities) -> np.ndarray:
    """Each logged row's highest class probability (the log keeps them as a JSON object)."""
    return np.array([max(p.values()) for p in probabilities], dtype=float)


def measure(
    model: str,
    version: str,
    rows: pd.DataFrame,
    calibration: Calibration | None = None,
    heldout_accuracy: float | None = None,
) -> Quality:
    """`rows`: one version's labelled rows (taller_mlflow.monitoring.labelled.read_labelled)."""
    truth, predicted = rows["species"].astype(str), rows["prediction"].astype(str)
    delays = (rows["received_at"] - rows["ts"]).dt.total_seconds().to_numpy()
    confidence = top_probability(rows["probabilities"])
    return Quality(
        model=model,
        version=version,
        labels=len(rows),
        accuracy=float((truth.to_numpy() == predicted.to_numpy()).mean()),
        f1_macro=f1_macro(truth, predicted),
        confusion=confusion(truth, predicted),
        delay_p50_seconds=float(np.percentile(delays, 50)),
        delay_p95_seconds=float(np.percentile(delays, 95)),
        estimated_accuracy=estimate(calibration, confidence) if calibration else None,
        heldout_accuracy=heldout_accuracy,
    )
