"""The drift job over a real SQLite prediction log and an in-memory MLflow client: which rows it
reads, what it writes to MLflow, what it skips and why, and the listing's drift fields."""

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from taller_mlflow.monitoring import gauges
from taller_mlflow.monitoring.job import run_checks, window_counts
from taller_mlflow.monitoring.reference import PROFILE_FILE, build_profile
from taller_mlflow.monitoring.schema import create_schema, prediction_log
from taller_mlflow.penguins import FEATURES, clean, read_csv
from taller_mlflow.serving.cache import ModelCache
from taller_mlflow.serving.catalogue import Catalogue
from taller_mlflow.settings import Settings
from taller_mlflow.training.model import split
from tests.unit.fakes import FakeLoader, FakeRest
from tests.unit.monitoring.monitor_rest_fakes import RecordingTracking

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def penguins():
    return split(clean(read_csv()).frame)


@pytest.fixture
def engine(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'monitoring.db'}")
    create_schema(engine)
    return engine


@pytest.fixture
def client(penguins):
    x_train, _, y_train, _ = penguins
    client = RecordingTracking()
    client.add_version("modelo_penguins", run_id="train-1")
    client.artifacts[("train-1", PROFILE_FILE)] = json.dumps(
        build_profile(x_train, y_train)
    ).encode()
    return client


def settings(**overrides) -> Settings:
    return Settings(**{"monitor_min_rows": 100, **overrides})


def log_rows(engine, frame: pd.DataFrame, ts: datetime, version="1", model="modelo_penguins"):
    rows = [
        {
            **{f: row[f] for f in FEATURES},
            "ts": ts,
            "request_id": f"r{i}",
            "endpoint": "/predict",
            "model_name": model,
            "model_version": version,
            "model_alias": "production",
            "prediction": row["prediction"],
            "probabilities": {row["prediction"]: 1.0},
            "latency_ms": 1.0,
        }
        for i, row in enumerate(frame.to_dict(orient="records"))
    ]
    with engine.begin() as conn:
        conn.execute(prediction_log.insert(), rows)


def stream(penguins, shifted=False) -> pd.DataFrame:
    _, x_test, _, y_test = penguins
    rows = pd.concat([x_test.assign(prediction=list(y_test))] * 3, ignore_index=True)
    if shifted:
        rows = rows.assign(body_mass_g=rows["body_mass_g"] * 1.25, island="Biscoe")
    return rows


def test_the_window_selects_rows_by_time(engine, penguins):
    log_rows(engine, stream(penguins).head(10), NOW - timedelta(hours=30))
    log_rows(engine, stream(penguins).head(7), NOW - timedelta(hours=1))
    version = [("modelo_penguins", "1")]
    assert window_counts(engine, NOW - timedelta(hours=24), NOW) == [(*version[0], 7)]
    assert window_counts(engine, NOW - timedelta(hours=48), NOW) == [(*version[0], 17)]
    assert window_counts(engine, NOW, NOW + timedelta(hours=1)) == []


def test_no_table_yet_means_no_rows(tmp_path):
    empty = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert window_counts(empty, NOW - timedelta(hours=1), NOW) == []


def test_a_check_writes_a_run_with_metrics_picture_and_tags_the_version(engine, client, penguins):
    log_rows(engine, stream(penguins), NOW - timedelta(minutes=5))
    [check] = run_checks(settings(), engine, client, end=NOW)
    assert (check.model, check.version, check.rows, check.status) == (
        "modelo_penguins",
        "1",
        300,
        "ok",
    )
    run = client.runs[check.run_id]
    assert client.experiments == {"monitoring_modelo_penguins": run["experiment_id"]}
    assert run["status"] == "FINISHED"
    assert run["metrics"]["rows"] == 300 and run["metrics"]["drift_status"] == 0
    for feature in [*FEATURES, "prediction"]:
        assert {f"psi_{feature}", f"p_value_{feature}", f"status_{feature}"} <= set(run["metrics"])
    assert run["artifacts"]["drift_report.png"].startswith(b"\x89PNG")
    assert json.loads(run["artifacts"]["drift_report.json"])["status"] == "ok"
    assert run["params"]["window_end"] == NOW.isoformat()
    tags = client.version_tags[("modelo_penguins", "1")]
    assert tags["drift.status"] == "ok" and tags["drift.run_id"] == check.run_id
    assert datetime.fromisoformat(tags["drift.checked_at"]).tzinfo is not None


def test_the_shifted_stream_drifts_on_body_mass_and_island_only(engine, client, penguins):
    log_rows(engine, stream(penguins, shifted=True), NOW - timedelta(minutes=5))
    [check] = run_checks(settings(), engine, client, end=NOW)
    assert check.status == "drift"
    metrics = client.runs[check.run_id]["metrics"]
    statuses = {f: metrics[f"status_{f}"] for f in FEATURES}
    assert statuses == {**dict.fromkeys(FEATURES, 0), "body_mass_g": 2, "island": 2}
    assert client.runs[check.run_id]["tags"]["drift.features"] == "body_mass_g,island"
    assert client.version_tags[("modelo_penguins", "1")]["drift.status"] == "drift"


def test_versions_that_cannot_be_checked_are_skipped_with_the_reason(engine, client, penguins):
    client.add_version("modelo_penguins", run_id="no-profile")  # version 2
    log_rows(engine, stream(penguins), NOW - timedelta(minutes=5), version="2")
    log_rows(engine, stream(penguins).head(40), NOW - timedelta(minutes=5), version="1")
    log_rows(engine, stream(penguins), NOW - timedelta(minutes=5), model="unregistered")
    checks = {(c.model, c.version): c for c in run_checks(settings(), engine, client, end=NOW)}
    assert checks[("modelo_penguins", "1")].skipped == "40 rows, fewer than 100"
    assert "no reference_profile.json" in checks[("modelo_penguins", "2")].skipped
    assert checks[("unregistered", "1")].skipped.startswith("registry: ")
    assert client.runs == {} and client.version_tags == {}


def test_gauges_show_the_last_pass_only(engine, client, penguins):
    log_rows(engine, stream(penguins, shifted=True), NOW - timedelta(minutes=5))
    gauges.publish(run_checks(settings(), engine, client, end=NOW))
    labels = {"model": "modelo_penguins", "version": "1"}
    assert gauges.STATUS.labels(**labels)._value.get() == 2
    assert gauges.FEATURE_STATUS.labels(**labels, feature="island")._value.get() == 2
    assert gauges.FEATURE_STATUS.labels(**labels, feature="sex")._value.get() == 0
    assert gauges.FEATURE_DRIFT.labels(**labels, feature="body_mass_g")._value.get() > 0.25
    # A day later nothing was logged: the version leaves the gauges, and its alert clears.
    gauges.publish(run_checks(settings(), engine, client, end=NOW + timedelta(days=1)))
    assert REGISTRY.get_sample_value("model_drift_status", labels) is None
    assert REGISTRY.get_sample_value("model_feature_drift", {**labels, "feature": "island"}) is None


def test_the_listing_shows_each_versions_last_drift_status(engine, client, penguins):
    client.add_version("modelo_penguins")  # version 2, never checked
    log_rows(engine, stream(penguins), NOW - timedelta(minutes=5))
    run_checks(settings(), engine, client, end=NOW)
    rest = FakeRest()  # the API's view of the same registry, tags as the job left them
    for version in ("1", "2"):
        rest.add_version(
            "modelo_penguins", tags=client.version_tags.get(("modelo_penguins", version))
        )
    [model] = Catalogue(rest, ModelCache(FakeLoader()), lambda name: True).describe()
    versions = {v["version"]: v for v in model["versions"]}
    assert versions["1"]["drift_status"] == "ok"
    assert versions["1"]["drift_checked_at"]
    assert (versions["2"]["drift_status"], versions["2"]["drift_checked_at"]) == (None, None)
