"""The quality check over a real SQLite log with labels, and an in-memory MLflow client: the join,
the numbers against hand computations, what it writes, the gauges and the auto-rollback's bounds."""

import json

import numpy as np
import pytest

from taller_mlflow.monitoring import quality_gauges
from taller_mlflow.monitoring.cbpe import calibrate
from taller_mlflow.monitoring.feedback import FeedbackStore, parse_items
from taller_mlflow.monitoring.labelled import read_labelled
from taller_mlflow.monitoring.quality import f1_macro, measure
from taller_mlflow.monitoring.quality_job import run_quality
from taller_mlflow.settings import Settings
from tests.unit.monitoring.logged import T0, log_engine, log_request, minutes
from tests.unit.monitoring.monitor_rest_fakes import RecordingTracking

NAME = "modelo_penguins"


def label(engine, pairs, at):
    """pairs: (request_id, row, species); labels received at `at`."""
    store = FeedbackStore(engine, now=lambda: at)
    body = [{"request_id": r, "row": i, "species": s} for r, i, s in pairs]
    items = store.record(parse_items(body, 1000)[0])
    assert {i.status for i in items} == {201}, [i.detail for i in items]


@pytest.fixture
def engine(tmp_path):
    engine = log_engine(tmp_path)
    # version 1: a batch of 4 and two singles; the shadow's rows of the batch must not count
    log_request(engine, "b", ["Adelie", "Gentoo", "Gentoo", "Chinstrap"], confidence=0.95)
    log_request(engine, "b", ["Adelie"] * 4, endpoint="shadow", version="2", alias="challenger")
    log_request(engine, "s1", ["Adelie"], ts=T0 + minutes(1))
    log_request(engine, "s2", ["Gentoo"], ts=T0 + minutes(2))
    log_request(engine, "late", ["Adelie"], ts=T0 + minutes(120))  # outside the window
    # labels: b row 1 and 3 wrong (Adelie, Gentoo), the rest right
    label(engine, [("b", 0, "Adelie"), ("b", 1, "Adelie"), ("b", 2, "Gentoo")], T0 + minutes(10))
    label(engine, [("b", 3, "Gentoo"), ("s1", 0, "Adelie"), ("s2", 0, "Gentoo")], T0 + minutes(30))
    label(engine, [("late", 0, "Adelie")], T0 + minutes(130))
    yield engine
    engine.dispose()


def window(engine):
    return read_labelled(engine, T0 - minutes(1), T0 + minutes(60))


def test_labels_join_their_row_by_index_within_the_window_not_the_shadows(engine):
    frame = window(engine)
    columns = ["request_id", "row", "prediction", "species"]
    pairs = list(frame[columns].itertuples(index=False, name=None))
    assert pairs == [
        ("b", 0, "Adelie", "Adelie"),
        ("b", 1, "Gentoo", "Adelie"),
        ("b", 2, "Gentoo", "Gentoo"),
        ("b", 3, "Chinstrap", "Gentoo"),
        ("s1", 0, "Adelie", "Adelie"),
        ("s2", 0, "Gentoo", "Gentoo"),
    ]
    assert set(frame["model_version"]) == {"1"}


def test_quality_numbers_equal_a_hand_computation(engine):
    quality = measure(NAME, "1", window(engine), heldout_accuracy=0.97)
    assert quality.labels == 6 and quality.accuracy == pytest.approx(4 / 6)
    # Adelie: tp 2, fp 0, fn 1 -> 4/5; Gentoo: tp 2, fp 1, fn 1 -> 4/6; Chinstrap: tp 0 -> 0
    assert quality.f1_macro == pytest.approx((4 / 5 + 4 / 6 + 0) / 3)
    assert quality.confusion == [[2, 0, 1], [0, 0, 0], [0, 1, 2]]  # true x predicted
    delays = np.array([10, 10, 10, 30, 29, 28]) * 60.0
    assert quality.delay_p50_seconds == pytest.approx(np.percentile(delays, 50))
    assert quality.delay_p95_seconds == pytest.approx(np.percentile(delays, 95))
    assert quality.floor(0.05) == pytest.approx(0.92) and quality.below(0.05)


def test_f1_macro_matches_scikit_learn():
    from sklearn.metrics import f1_score

    truth = ["Adelie", "Gentoo", "Gentoo", "Chinstrap", "Adelie", "Adelie"]
    predicted = ["Adelie", "Adelie", "Gentoo", "Gentoo", "Chinstrap", "Adelie"]
    assert f1_macro(truth, predicted) == pytest.approx(f1_score(truth, predicted, average="macro"))


def settings(**overrides) -> Settings:
    return Settings(_env_file=None, **{"monitor_min_labels": 5, **overrides})


@pytest.fixture
def client():
    client = RecordingTracking()
    client.add_version(NAME, tags={"test_accuracy": "0.97"})
    client.set_alias(NAME, "production", "1")
    return client


def test_the_quality_job_logs_metrics_picture_and_tags(engine, client):
    cal = {(NAME, "1"): calibrate([0.95] * 10, [1] * 8 + [0] * 2)}
    checks = run_quality(
        settings(), engine, client, T0 - minutes(1), T0 + minutes(60), lambda n, v: cal[(n, v)]
    )
    [check] = checks
    run = client.runs[check.run_id]
    assert run["metrics"]["accuracy"] == pytest.approx(4 / 6)
    assert run["metrics"]["heldout_accuracy"] == 0.97
    assert run["metrics"]["accuracy_gap"] == pytest.approx(0.97 - 4 / 6)
    # CBPE: 4 rows at 0.95 (bin accuracy 0.8), 2 at 0.9 (a bin held-out never saw: 0.9 itself)
    assert run["metrics"]["estimated_accuracy"] == pytest.approx((4 * 0.8 + 2 * 0.9) / 6)
    assert run["artifacts"]["confusion_matrix.png"].startswith(b"\x89PNG")
    assert json.loads(run["artifacts"]["quality.json"])["labels"] == 6
    assert client.version_tags[(NAME, "1")]["quality.run_id"] == check.run_id
    assert check.action is None  # auto-rollback off by default


def test_a_version_with_too_few_labels_is_skipped_and_says_why(engine, client):
    [check] = run_quality(settings(monitor_min_labels=7), engine, client, T0, T0 + minutes(60))
    assert check.quality is None and check.skipped == "6 labels, fewer than 7"
    assert client.runs == {}


def test_gauges_carry_accuracy_floor_and_label_count(engine, client):
    checks = run_quality(
        settings(), engine, client, T0 - minutes(1), T0 + minutes(60), lambda n, v: None
    )
    series = quality_gauges.exposition(checks, 0.05)
    labels = f'model="{NAME}",version="1"'
    assert series[f"model_accuracy{{{labels}}}"] == pytest.approx(4 / 6)
    assert series[f"model_accuracy_floor{{{labels}}}"] == pytest.approx(0.92)
    assert series[f"model_accuracy_labels{{{labels}}}"] == 6
    assert not any(k.startswith("model_accuracy_estimated") for k in series)


def test_below_its_floor_with_auto_rollback_on_the_job_asks_for_a_rollback(engine, client):
    asked = []

    def act(settings_, name, version, evidence):
        asked.append((name, version, evidence))
        return "@production rolled back from version 1 to 0"

    on = settings(auto_rollback=True)
    [check] = run_quality(on, engine, client, T0, T0 + minutes(60), lambda n, v: None, act)
    [(name, version, evidence)] = asked
    assert (name, version) == (NAME, "1") and check.action.startswith("@production rolled back")
    assert evidence["accuracy"] == round(4 / 6, 4) and evidence["floor"] == 0.92
    assert evidence["labels"] == 6 and evidence["quality_run_id"] == check.run_id


def test_the_job_asks_for_no_rollback_when_off_or_within_the_floor(engine, client):
    def act(*_):
        raise AssertionError("no rollback expected")

    run_quality(settings(), engine, client, T0, T0 + minutes(60), lambda n, v: None, act)
    lenient = settings(auto_rollback=True, quality_tolerance=0.5)  # floor 0.47 < 0.667
    [check] = run_quality(lenient, engine, client, T0, T0 + minutes(60), lambda n, v: None, act)
    assert check.action is None


def test_the_calibration_reads_the_file_the_gate_reads():
    from taller_mlflow.monitoring import heldout
    from taller_mlflow.promotion import evaluation

    assert heldout.EVAL_ROWS_PATH == evaluation.EVAL_ROWS_PATH


def test_the_monitor_prints_each_versions_accuracy_beside_its_estimate(engine, client, capsys):
    from taller_mlflow.monitoring.monitor_cli import quality_pass

    quality_pass(settings(), engine, client, T0 - minutes(1), T0 + minutes(60))
    [line] = capsys.readouterr().out.strip().splitlines()
    # no calibration (the fake has no evaluation rows): the estimate says n/a, the check still runs
    assert line.startswith(f"{NAME}/1: accuracy 0.667 over 6 labels (estimated n/a, held-out 0.970")


def test_without_any_label_the_monitor_skips_the_quality_check(tmp_path, client, capsys):
    from taller_mlflow.monitoring.monitor_cli import quality_pass

    (tmp_path / "empty").mkdir()
    empty = log_engine(tmp_path / "empty")
    assert quality_pass(settings(), empty, client) == []
    assert capsys.readouterr().out == "" and client.calls == {}
