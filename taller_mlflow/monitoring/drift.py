"""Drift statistics, pure functions: PSI and a test per feature, and the status they give.

A feature's status combines an effect size with a significance test:
- PSI (population stability index) over the reference's quantile bins (numeric features) or over
  the categories: how far the distribution moved. Below `psi_warn` (0.1) it is ok, from
  `psi_drift` (0.25) on it is drift, in between warn: the usual reading of PSI.
- the p-value of a two-sample test against the reference (Kolmogorov-Smirnov for numbers, chi²
  on the 2 x k table of counts for categories): whether the move is more than sampling noise.
  A PSI level counts only when p < `p_value`.

Why both, and why quintiles: PSI has an upward bias of about (bins - 1) * (1/n_ref + 1/n_window)
from sampling alone: 0.07 with deciles, 233 training rows and 300 logged ones, 0.03 with
quintiles. With deciles, 300 penguins drawn from the held-out split read as warn (PSI 0.10-0.20)
on three of four measurements; with quintiles they stay under 0.05. The p-value keeps noise out
of the status where PSI alone would not; PSI keeps a significant but tiny move (a large window
makes every difference significant) from being called drift. Measured on the penguins
(tests/unit/monitoring/test_drift.py): the 100 held-out rows, each three times, are ok on every
feature; body_mass_g x 1.25 gives PSI 1.0, island all Biscoe PSI 4.6, both p < 1e-15.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from taller_mlflow.monitoring.window import NumericSummary, WindowSummary

STATUSES = ("ok", "warn", "drift")  # in order of severity; the index is the gauge's value
EPSILON = 1e-4  # an empty bin's share, so that PSI stays finite


@dataclass(frozen=True)
class Thresholds:
    psi_warn: float = 0.1
    psi_drift: float = 0.25
    p_value: float = 0.01


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    test: str  # "ks" or "chi2"
    psi: float
    statistic: float
    p_value: float
    status: str
    reference: dict[str, float]  # bin or category -> share of the reference
    current: dict[str, float]  # the same keys -> share of the window

    def as_dict(self) -> dict:
        return asdict(self)


def code(status: str) -> int:
    return STATUSES.index(status)


def worst(statuses: Sequence[str]) -> str:
    return max(statuses, key=code, default="ok")


def status_of(psi: float, p_value: float, limits: Thresholds) -> str:
    if p_value >= limits.p_value:
        return "ok"
    if psi >= limits.psi_drift:
        return "drift"
    return "warn" if psi >= limits.psi_warn else "ok"


def quantile_edges(values: Sequence[float], bins: int) -> list[float]:
    """The interior cut points of `bins` quantile bins (fewer where values tie)."""
    inner = np.linspace(0, 1, bins + 1)[1:-1]
    return [float(x) for x in np.unique(np.quantile(np.asarray(values, float), inner))]


def bin_shares(values: Sequence[float], edges: Sequence[float]) -> np.ndarray:
    """Share of `values` in each of the len(edges) + 1 bins (-inf, e0), [e0, e1), ..., [e_last, inf)."""
    values = np.asarray(values, float)
    idx = np.searchsorted(np.asarray(edges, float), values, side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1)
    return counts / max(len(values), 1)


def bin_labels(edges: Sequence[float]) -> list[str]:
    bounds = [f"{e:g}" for e in edges]
    return (
        [f"< {bounds[0]}"]
        + [f"{a}-{b}" for a, b in zip(bounds, bounds[1:], strict=False)]
        + [f">= {bounds[-1]}"]
    )


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.clip(np.asarray(expected, float), EPSILON, None)
    a = np.clip(np.asarray(actual, float), EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_drift(
    feature: str, reference: Mapping, current: Sequence[float], limits: Thresholds
) -> FeatureDrift:
    """`reference` is the profile's entry for the feature: {"edges", "shares", "values"}."""
    summary = NumericSummary(reference)
    summary.add(current)
    return numeric_drift_of(feature, reference, summary, limits)


def numeric_drift_of(
    feature: str, reference: Mapping, summary: NumericSummary, limits: Thresholds
) -> FeatureDrift:
    shares = summary.shares()
    value = psi(reference["shares"], shares)
    statistic, p_value = summary.ks()
    labels = bin_labels(reference["edges"]) if reference["edges"] else ["all"]
    return FeatureDrift(
        feature,
        "ks",
        value,
        statistic,
        p_value,
        status_of(value, p_value, limits),
        dict(zip(labels, map(float, reference["shares"]), strict=True)),
        dict(zip(labels, map(float, shares), strict=True)),
    )


def categorical_drift(
    feature: str, reference_counts: Mapping[str, int], current: Sequence[str], limits: Thresholds
) -> FeatureDrift:
    return categorical_drift_of(feature, reference_counts, Counter(map(str, current)), limits)


def categorical_drift_of(
    feature: str, reference_counts: Mapping[str, int], observed: Mapping[str, int], limits
) -> FeatureDrift:
    """Categories as counted in the reference; a category it never saw still counts in the window."""
    categories = sorted(set(reference_counts) | set(observed))
    ref = np.array([reference_counts.get(c, 0) for c in categories], float)
    cur = np.array([observed.get(c, 0) for c in categories], float)
    ref_shares, cur_shares = ref / max(ref.sum(), 1), cur / max(cur.sum(), 1)
    value = psi(ref_shares, cur_shares)
    statistic, p_value = _chi2(ref, cur)
    return FeatureDrift(
        feature,
        "chi2",
        value,
        statistic,
        p_value,
        status_of(value, p_value, limits),
        dict(zip(categories, map(float, ref_shares), strict=True)),
        dict(zip(categories, map(float, cur_shares), strict=True)),
    )


def _chi2(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Chi² test of homogeneity on the 2 x k table; a category nobody has is left out, and with
    fewer than two categories left there is nothing to compare (p = 1)."""
    table = np.vstack([reference, current])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = stats.chi2_contingency(table)
    return float(result.statistic), float(result.pvalue)


@dataclass(frozen=True)
class DriftReport:
    rows: int
    features: dict[str, FeatureDrift]
    prediction: FeatureDrift  # the predicted classes against the training class balance

    @property
    def status(self) -> str:
        return worst([f.status for f in self.features.values()] + [self.prediction.status])

    @property
    def drifted(self) -> list[str]:
        return [name for name, f in self.features.items() if f.status != "ok"]

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "status": self.status,
            "features": {name: f.as_dict() for name, f in self.features.items()},
            "prediction": self.prediction.as_dict(),
        }


def compare(profile: Mapping, rows, limits: Thresholds) -> DriftReport:
    """The window's rows (a DataFrame with the features and `prediction`) against a reference
    profile (taller_mlflow.monitoring.reference.build_profile)."""
    summary = WindowSummary(profile)
    summary.add({name: rows[name].tolist() for name in rows.columns})
    return report(summary, limits)


def report(summary: WindowSummary, limits: Thresholds) -> DriftReport:
    """The drift of a window summed up chunk by chunk (taller_mlflow.monitoring.window)."""
    profile = summary.profile
    features = {}
    for name, ref in profile["numeric"].items():
        features[name] = numeric_drift_of(name, ref, summary.numeric[name], limits)
    for name, ref in profile["categorical"].items():
        features[name] = categorical_drift_of(
            name, ref["counts"], summary.categorical[name], limits
        )
    prediction = categorical_drift_of(
        "prediction", profile["classes"]["counts"], summary.prediction, limits
    )
    return DriftReport(summary.rows, features, prediction)
