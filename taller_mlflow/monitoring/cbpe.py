"""Estimated accuracy before labels arrive: confidence-based performance estimation (CBPE).

NannyML's idea, in the few lines it takes for a classifier's accuracy: the chance a prediction is
right is its top probability, once that probability is calibrated. Calibration is by histogram
binning on the version's held-out rows (promotion/evaluation.py): the top probabilities are cut
into equal-width bins, and each bin's value is the share of its held-out rows the model got right.
A window's estimate is the mean, over its predictions, of their bin's value; a prediction whose
bin saw no held-out row counts its own top probability (uncalibrated, not invented).
"""

from dataclasses import dataclass

import numpy as np

BINS = 10


@dataclass(frozen=True)
class Calibration:
    edges: np.ndarray  # BINS + 1 edges over [0, 1]
    accuracy: np.ndarray  # per bin: share right on held-out rows; NaN for an empty bin
    rows: int  # held-out rows it was fitted on

    def as_dict(self) -> dict:
        return {
            "edges": self.edges.tolist(),
            "accuracy": [None if np.isnan(a) else float(a) for a in self.accuracy],
            "rows": self.rows,
        }


def _bin(edges: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    # right-closed bins, the first also closed on the left: 1.0 falls in the last bin
    return np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, len(edges) - 2)


def calibrate(confidence, correct, bins: int = BINS) -> Calibration:
    """confidence: each held-out row's top probability; correct: whether its prediction was."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = _bin(edges, confidence)
    right = np.bincount(which, weights=correct, minlength=bins)
    seen = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(seen > 0, right / np.maximum(seen, 1), np.nan)
    return Calibration(edges, accuracy, int(len(confidence)))


def estimate(calibration: Calibration, confidence) -> float | None:
    """The expected accuracy of predictions with these top probabilities; None for none."""
    confidence = np.asarray(confidence, dtype=float)
    if not len(confidence):
        return None
    value = calibration.accuracy[_bin(calibration.edges, confidence)]
    return float(np.where(np.isnan(value), confidence, value).mean())
