"""A version's window of logged rows, summed up as it streams past: what the drift statistics
need, in memory bounded by one chunk of rows, not by the window.

- a numeric feature: its counts in the reference's bins (for PSI) and, at each distinct
  reference value r, how many logged values are <= r and < r. That is all the two-sample
  Kolmogorov-Smirnov statistic needs: between two consecutive reference values the reference's
  CDF is flat, so the largest gap to the window's CDF lies at a reference value or just below
  the next one. `ks()` gives the very statistic and p-value `scipy.stats.ks_2samp` gives: up to
  EXACT_LIMIT rows the values themselves are kept and scipy's exact test runs on them; past it,
  scipy too switches to the asymptotic distribution, computed here from the counts;
- a categorical feature, and the predicted class: a count per value.
"""

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

# scipy.stats.ks_2samp's MAX_AUTO_N: up to this many values in each sample, its 'auto' method
# computes the exact p-value, and beyond it the asymptotic one.
EXACT_LIMIT = 10_000


class NumericSummary:
    """One numeric feature of the window, against its reference profile entry
    ({"edges", "shares", "values"}, taller_mlflow.monitoring.reference)."""

    def __init__(self, reference: Mapping):
        self.reference = np.sort(np.asarray(reference["values"], float))
        self.points = np.unique(self.reference)
        self.edges = np.asarray(reference["edges"], float)
        self.bins = np.zeros(len(self.edges) + 1, np.int64)
        self.at_or_below = np.zeros(len(self.points), np.int64)
        self.below = np.zeros(len(self.points), np.int64)
        self.n = 0
        self.kept: list[np.ndarray] | None = []  # the values, while there are few enough

    def add(self, values: Sequence[float]) -> None:
        x = np.sort(np.asarray(values, float))
        self.n += len(x)
        idx = np.searchsorted(self.edges, x, side="right")
        self.bins += np.bincount(idx, minlength=len(self.edges) + 1)
        self.at_or_below += np.searchsorted(x, self.points, side="right")
        self.below += np.searchsorted(x, self.points, side="left")
        if self.kept is not None:
            self.kept.append(x)
            if self.n > EXACT_LIMIT:
                self.kept = None

    def shares(self) -> np.ndarray:
        return self.bins / max(self.n, 1)

    def ks(self) -> tuple[float, float]:
        """(statistic, p-value) of the two-sample KS test, reference against window."""
        if self.kept is not None and len(self.reference) <= EXACT_LIMIT:
            test = stats.ks_2samp(self.reference, np.concatenate(self.kept))
            return float(test.statistic), float(test.pvalue)
        m, n = len(self.reference), self.n
        reference_cdf = np.searchsorted(self.reference, self.points, side="right") / m
        just_below = np.concatenate([[0.0], reference_cdf[:-1]])  # the reference's CDF below r
        gaps = np.concatenate(
            [
                np.abs(reference_cdf - self.at_or_below / n),
                np.abs(just_below - self.below / n),
            ]
        )
        d = float(gaps.max())
        larger, smaller = sorted([float(m), float(n)], reverse=True)
        effective = np.round(larger * smaller / (larger + smaller))
        return d, float(np.clip(stats.kstwo.sf(d, effective), 0, 1))


class WindowSummary:
    """Every feature of a profile, and the predicted class, summed up over chunks of rows."""

    def __init__(self, profile: Mapping):
        self.profile = profile
        self.numeric = {name: NumericSummary(ref) for name, ref in profile["numeric"].items()}
        self.categorical = {name: Counter() for name in profile["categorical"]}
        self.prediction: Counter = Counter()
        self.rows = 0

    def add(self, columns: Mapping[str, Sequence]) -> None:
        """One chunk: a column of values per feature and `prediction`, all of one length."""
        self.rows += len(columns["prediction"])
        for name, summary in self.numeric.items():
            summary.add(columns[name])
        for name, counts in self.categorical.items():
            counts.update(str(value) for value in columns[name])
        self.prediction.update(str(value) for value in columns["prediction"])
