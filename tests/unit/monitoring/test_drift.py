"""The drift statistics: PSI, the tests, the status rule, on synthetic data and on the penguins."""

import json

import numpy as np
import pandas as pd
import pytest

from taller_mlflow.monitoring.drift import (
    Thresholds,
    bin_labels,
    bin_shares,
    categorical_drift,
    compare,
    numeric_drift,
    psi,
    quantile_edges,
    status_of,
    worst,
)
from taller_mlflow.monitoring.reference import build_profile
from taller_mlflow.penguins import CATEGORICAL, FEATURES, NUMERIC, clean, read_csv
from taller_mlflow.training.model import split

LIMITS = Thresholds()


@pytest.fixture(scope="module")
def penguins():
    x_train, x_test, y_train, y_test = split(clean(read_csv()).frame)
    return x_train, x_test, y_train, y_test


def held_out_stream(x_test, y_test) -> pd.DataFrame:
    """300 real held-out penguins: each of the 100 held-out rows three times."""
    rows = pd.concat([x_test] * 3, ignore_index=True)
    rows["prediction"] = list(y_test) * 3
    return rows


def shifted(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows.copy()
    out["body_mass_g"] = out["body_mass_g"] * 1.25
    out["island"] = "Biscoe"
    return out


# --- the pieces ---------------------------------------------------------------------------------


def test_psi_is_zero_for_equal_shares_and_matches_the_formula():
    assert psi([0.25] * 4, [0.25] * 4) == 0.0
    expected = (0.4 - 0.5) * np.log(0.4 / 0.5) + (0.6 - 0.5) * np.log(0.6 / 0.5)
    assert psi([0.5, 0.5], [0.4, 0.6]) == pytest.approx(expected)
    assert np.isfinite(psi([0.5, 0.5], [1.0, 0.0]))  # an empty bin does not make it infinite


def test_decile_edges_split_values_into_equal_bins():
    values = np.arange(1, 1001, dtype=float)
    edges = quantile_edges(values, 10)
    assert len(edges) == 9
    assert bin_shares(values, edges) == pytest.approx([0.1] * 10, abs=0.002)
    assert len(bin_labels(edges)) == 10


def test_tied_values_give_fewer_edges_and_shares_still_add_up():
    values = [1.0] * 50 + [2.0] * 50
    edges = quantile_edges(values, 10)
    assert edges == [1.0, 1.5, 2.0]
    assert list(bin_shares(values, edges)) == [0.0, 0.5, 0.0, 0.5]


@pytest.mark.parametrize(
    "psi_value, p_value, expected",
    [
        (0.05, 1e-9, "ok"),  # significant but small
        (0.15, 1e-9, "warn"),
        (0.30, 1e-9, "drift"),
        (0.30, 0.5, "ok"),  # large but within sampling noise
        (0.30, 0.01, "ok"),  # p must be below the threshold
    ],
)
def test_status_needs_both_the_psi_level_and_a_significant_test(psi_value, p_value, expected):
    assert status_of(psi_value, p_value, LIMITS) == expected


def test_worst_status():
    assert worst(["ok", "drift", "warn"]) == "drift"
    assert worst(["ok", "warn"]) == "warn"
    assert worst([]) == "ok"


# --- synthetic ----------------------------------------------------------------------------------


def _numeric_reference(values, bins=10):
    edges = quantile_edges(values, bins)
    return {"edges": edges, "shares": list(bin_shares(values, edges)), "values": sorted(values)}


def test_same_normal_distribution_is_ok_a_one_sd_shift_is_drift():
    rng = np.random.default_rng(7)
    ref = _numeric_reference(list(rng.normal(0, 1, 1000)))
    same = numeric_drift("x", ref, rng.normal(0, 1, 500), LIMITS)
    moved = numeric_drift("x", ref, rng.normal(1, 1, 500), LIMITS)
    assert same.status == "ok" and same.psi < 0.1 and same.p_value > 0.01
    assert moved.status == "drift" and moved.psi > 0.25 and moved.p_value < 1e-10
    assert moved.test == "ks"
    assert sum(moved.current.values()) == pytest.approx(1.0)


def test_categories_in_the_same_proportions_are_ok_one_category_only_is_drift():
    counts = {"a": 300, "b": 300, "c": 400}
    same = categorical_drift("k", counts, ["a"] * 90 + ["b"] * 90 + ["c"] * 120, LIMITS)
    one = categorical_drift("k", counts, ["c"] * 300, LIMITS)
    assert (same.status, same.psi) == ("ok", pytest.approx(0.0, abs=1e-9))
    assert same.p_value > 0.9
    assert one.status == "drift" and one.test == "chi2" and one.p_value < 1e-10
    assert one.current == {"a": 0.0, "b": 0.0, "c": 1.0}


def test_a_category_the_reference_never_saw_counts_as_drift():
    result = categorical_drift("k", {"a": 500, "b": 500}, ["a"] * 100 + ["new"] * 100, LIMITS)
    assert result.current["new"] == 0.5 and result.reference["new"] == 0.0
    assert result.status == "drift"


def test_a_single_category_on_both_sides_has_nothing_to_test():
    result = categorical_drift("k", {"a": 10}, ["a"] * 10, LIMITS)
    assert (result.p_value, result.status) == (1.0, "ok")


# --- the penguins -------------------------------------------------------------------------------


def test_profile_describes_the_training_split(penguins):
    x_train, _, y_train, _ = penguins
    profile = build_profile(x_train, y_train, bins=10)
    json.dumps(profile)  # it is logged as JSON
    assert profile["rows"] == len(x_train)
    assert set(profile["numeric"]) == set(NUMERIC)
    assert set(profile["categorical"]) == set(CATEGORICAL)
    for entry in profile["numeric"].values():
        assert len(entry["values"]) == len(x_train)
        assert len(entry["shares"]) == len(entry["edges"]) + 1
        assert sum(entry["shares"]) == pytest.approx(1.0)
    assert profile["categorical"]["island"]["counts"] == x_train["island"].value_counts().to_dict()
    assert profile["classes"]["counts"] == y_train.value_counts().to_dict()
    assert sum(profile["classes"]["shares"].values()) == pytest.approx(1.0)


def test_held_out_penguins_are_ok_on_every_feature(penguins):
    x_train, x_test, y_train, y_test = penguins
    report = compare(build_profile(x_train, y_train), held_out_stream(x_test, y_test), LIMITS)
    assert report.rows == 300
    assert {f: d.status for f, d in report.features.items()} == dict.fromkeys(FEATURES, "ok")
    assert report.prediction.status == "ok"
    assert report.status == "ok" and report.drifted == []


def test_heavier_penguins_all_on_biscoe_drift_on_exactly_those_two_features(penguins):
    x_train, x_test, y_train, y_test = penguins
    stream = shifted(held_out_stream(x_test, y_test))
    report = compare(build_profile(x_train, y_train), stream, LIMITS)
    assert sorted(report.drifted) == ["body_mass_g", "island"]
    assert report.features["body_mass_g"].p_value < 1e-15
    assert report.features["island"].p_value < 1e-15
    assert report.features["body_mass_g"].status == "drift"
    assert report.features["island"].status == "drift"
    for name in set(FEATURES) - {"body_mass_g", "island"}:
        assert report.features[name].status == "ok", report.features[name]
    assert report.status == "drift"


def test_bootstrap_resamples_of_the_held_out_split_rarely_warn(penguins):
    """300 rows drawn with replacement from the 100 held-out ones overstate the sample (each row
    comes about three times), so the tests are stricter than with 300 fresh penguins; still, no
    feature drifts in any of 50 draws, and no draw warns on more than one feature."""
    x_train, x_test, y_train, y_test = penguins
    profile = build_profile(x_train, y_train)
    labelled = x_test.assign(prediction=list(y_test))
    for seed in range(50):
        report = compare(profile, labelled.sample(300, replace=True, random_state=seed), LIMITS)
        statuses = [d.status for d in report.features.values()]
        assert "drift" not in statuses, (seed, report.as_dict())
        assert statuses.count("warn") <= 1, (seed, statuses)
