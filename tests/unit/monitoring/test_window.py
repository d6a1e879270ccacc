"""The window summed up chunk by chunk gives the statistics the whole window in memory gives."""

from collections import Counter

import numpy as np
import pytest
from scipy import stats

from taller_mlflow.monitoring.drift import Thresholds, bin_shares, compare, quantile_edges, report
from taller_mlflow.monitoring.window import EXACT_LIMIT, NumericSummary, WindowSummary

LIMITS = Thresholds()


def reference(values, bins=5):
    edges = quantile_edges(values, bins)
    return {"edges": edges, "shares": list(bin_shares(values, edges)), "values": sorted(values)}


def summed(ref, values, chunk):
    summary = NumericSummary(ref)
    for at in range(0, len(values), chunk):
        summary.add(values[at : at + chunk])
    return summary


@pytest.mark.parametrize("rows", [300, EXACT_LIMIT, EXACT_LIMIT + 1, 250_000])
def test_ks_from_chunks_equals_scipys_ks_2samp_on_the_whole_window(rows):
    rng = np.random.default_rng(rows)
    ref_values = rng.normal(0, 1, 233).round(1)  # ties, as real measurements have
    window = rng.normal(0.1, 1.1, rows).round(1)
    summary = summed(reference(ref_values), window, chunk=7_000)
    expected = stats.ks_2samp(ref_values, window)
    statistic, p_value = summary.ks()
    assert statistic == pytest.approx(float(expected.statistic), abs=1e-12)
    assert p_value == pytest.approx(float(expected.pvalue), rel=1e-9, abs=1e-300)


def test_ks_from_counts_finds_a_gap_just_below_a_reference_value():
    """The window's values all sit just under the reference's median: the largest gap is
    there, below a reference value, not at one."""
    ref_values = np.arange(1.0, 234.0)
    window = np.full(EXACT_LIMIT + 500, 116.5)
    statistic, p_value = summed(reference(ref_values), window, chunk=1_000).ks()
    expected = stats.ks_2samp(ref_values, window)
    assert statistic == pytest.approx(float(expected.statistic), abs=1e-12)
    assert p_value == pytest.approx(float(expected.pvalue), rel=1e-9, abs=1e-300)


def test_bin_shares_from_chunks_equal_the_whole_windows():
    rng = np.random.default_rng(3)
    ref = reference(rng.normal(0, 1, 233))
    window = rng.normal(0, 1, 50_001)
    summary = summed(ref, window, chunk=4_096)
    assert summary.shares() == pytest.approx(bin_shares(window, ref["edges"]), abs=1e-15)
    assert summary.n == 50_001


def test_only_a_small_window_keeps_its_values():
    ref = reference(np.arange(10.0))
    assert summed(ref, np.zeros(EXACT_LIMIT), chunk=1_000).kept is not None
    assert summed(ref, np.zeros(EXACT_LIMIT + 1), chunk=1_000).kept is None


def profile():
    rng = np.random.default_rng(5)
    return {
        "numeric": {"x": reference(rng.normal(0, 1, 233))},
        "categorical": {"island": {"counts": {"Biscoe": 120, "Dream": 80, "Torgersen": 33}}},
        "classes": {"counts": {"Adelie": 100, "Gentoo": 90, "Chinstrap": 43}},
    }


def test_a_report_from_chunks_equals_the_report_of_the_whole_window():
    import pandas as pd

    rng = np.random.default_rng(9)
    n = 30_000
    rows = pd.DataFrame(
        {
            "x": rng.normal(0.2, 1, n),
            "island": rng.choice(["Biscoe", "Dream", "Torgersen", "Atlantis"], n),
            "prediction": rng.choice(["Adelie", "Gentoo", "Chinstrap"], n),
        }
    )
    whole = compare(profile(), rows, LIMITS)
    summary = WindowSummary(profile())
    for at in range(0, n, 9_999):
        part = rows.iloc[at : at + 9_999]
        summary.add({c: part[c].tolist() for c in part.columns})
    chunked = report(summary, LIMITS)
    assert chunked.as_dict() == whole.as_dict()
    assert Counter(rows["island"])["Atlantis"] > 0  # an unseen category still counts
    assert "Atlantis" in chunked.features["island"].current
