"""The gate's checks on their own: the comparison, the fresh-process result, the real fast path."""

import pandas as pd
import pytest

from taller_mlflow.penguins import FEATURES, TARGET, clean, read_csv
from taller_mlflow.promotion import checks as ck
from taller_mlflow.promotion.probe import ProbeResult
from taller_mlflow.training.model import build_pipeline
from tests.unit.promotion.fakes import RightOn, eval_rows


def test_with_no_production_the_comparison_passes_and_says_why():
    check = ck.comparison_check(0.5, None, 0.01, 100)
    assert check.passed and "no production version to compare with" in check.detail


@pytest.mark.parametrize(
    "candidate, production, passed",
    [(0.98, 0.99, True), (0.97, 0.99, False), (1.0, 0.5, True), (0.29, 0.3, True)],
)
def test_the_comparison_allows_exactly_the_tolerance(candidate, production, passed):
    check = ck.comparison_check(candidate, ("4", production), 0.01, 100)
    assert check.passed is passed
    assert f"production version 4's {production:.4f} minus tolerance 0.01" in check.detail


def test_accuracy_scores_the_model_on_the_rows_labels():
    assert ck.accuracy(RightOn(73), eval_rows(100)) == pytest.approx(0.73)


def test_a_probe_that_could_not_load_fails_both_fresh_process_checks():
    checks = ck.fresh_process_checks(ProbeResult(False, False, "cannot load: boom"))
    assert [(c.passed, c.detail) for c in checks] == [
        (False, "cannot load: boom"),
        (False, "not loaded"),
    ]
    loaded = ck.fresh_process_checks(ProbeResult(True, False, "no input example was logged"))
    assert [c.passed for c in loaded] == [True, False]


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    return clean(read_csv()).frame


def test_the_fast_path_check_passes_a_real_pipeline(penguins):
    pipeline = build_pipeline(7).set_params(classifier__n_estimators=5)
    pipeline.fit(penguins[FEATURES], penguins[TARGET])
    check = ck.fast_path_check(pipeline, penguins[[*FEATURES, TARGET]].head(60))
    assert check.passed, check.detail
    assert check.detail == "same classes and probabilities on 60 rows"


def test_the_fast_path_check_fails_what_cannot_be_compiled(penguins):
    check = ck.fast_path_check(RightOn(10), penguins[[*FEATURES, TARGET]].head(10))
    assert not check.passed and check.detail == "not a Pipeline: RightOn"
