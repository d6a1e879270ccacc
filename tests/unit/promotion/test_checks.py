"""The gate's checks on their own: the comparison, the fresh-process result, and the real graph
check, which logs a serving artifact only for a graph that agrees."""

import pandas as pd
import pytest

from taller_mlflow.penguins import FEATURES, TARGET, clean, read_csv
from taller_mlflow.promotion import checks as ck
from taller_mlflow.promotion.fitted import Fitted
from taller_mlflow.promotion.probe import ProbeResult
from taller_mlflow.serving.manifest import SHA256_TAG
from taller_mlflow.training.model import build_pipeline
from tests.unit.promotion.fakes import NAME, FakeRegistry, RightOn, eval_rows


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


def test_a_probe_that_loaded_names_the_graph_it_loaded():
    checks = ck.fresh_process_checks(ProbeResult(True, True, "3 rows -> [...]", "0123456789ab" * 5))
    assert checks[0].detail == (
        "its verified ONNX graph (sha256 0123456789ab), through the tracking server"
    )


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    return clean(read_csv()).frame


def test_the_graph_check_logs_the_artifact_of_a_real_pipeline(penguins):
    pipeline = build_pipeline(7).set_params(classifier__n_estimators=5)
    pipeline.fit(penguins[FEATURES], penguins[TARGET])
    registry = FakeRegistry()
    version = registry.add_version()
    rows = penguins[[*FEATURES, TARGET]].head(60)
    check = ck.serving_check(registry, NAME, version, Fitted(pipeline, "run-1", None), rows)
    assert check.passed, check.detail
    assert check.name == "ONNX graph verified against scikit-learn"
    sha = registry.tags(version)[SHA256_TAG]
    assert check.detail.startswith(f"sha256 {sha[:12]}, 411 rows compared, max abs diff ")
    assert check.detail.endswith(f"<= 1e-05; logged at serving/modelo_penguins/v{version}")


def test_the_graph_check_fails_what_cannot_be_converted_and_logs_nothing(penguins):
    registry = FakeRegistry()
    version = registry.add_version()
    rows = penguins[[*FEATURES, TARGET]].head(10)
    check = ck.serving_check(registry, NAME, version, Fitted(RightOn(10), "run-1", None), rows)
    assert not check.passed and check.detail == "not a Pipeline: RightOn"
    assert registry.tags(version) == {} and registry.artifacts == {}


def test_a_registry_briefly_away_while_logging_is_raised_for_a_retry_not_a_rejection(penguins):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import PERMISSION_DENIED, TEMPORARILY_UNAVAILABLE

    pipeline = build_pipeline(7).set_params(classifier__n_estimators=5)
    pipeline.fit(penguins[FEATURES], penguins[TARGET])
    registry = FakeRegistry()
    version = registry.add_version()
    fitted_model = Fitted(pipeline, "run-1", None)
    rows = penguins[[*FEATURES, TARGET]].head(20)

    def away(*args):
        raise MlflowException("backend store unavailable", error_code=TEMPORARILY_UNAVAILABLE)

    registry.log_artifact = away
    with pytest.raises(MlflowException, match="backend store unavailable"):
        ck.serving_check(registry, NAME, version, fitted_model, rows)

    def refused(*args):
        raise MlflowException("no write access to the artifact store", error_code=PERMISSION_DENIED)

    registry.log_artifact = refused
    check = ck.serving_check(registry, NAME, version, fitted_model, rows)
    assert not check.passed and check.detail == "no write access to the artifact store"
    assert SHA256_TAG not in registry.tags(version)
