"""Drift is caught, and only drift: penguins sent through the real API over HTTP are logged,
and the drift job compares them with the training reference of the version that answered.

A real MLflow server (PostgreSQL + S3), one quick training (which logs the reference profile),
the API logging to a SQLite prediction log. Two streams of 300 penguins, each checked over its
own time window: the held-out penguins as they are (ok on every feature), then the same penguins
25% heavier and all on Biscoe (drift on body_mass_g and island, and on nothing else)."""

import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient

from taller_mlflow.local.servers import ROOT, api_server, free_port, monitor_server
from taller_mlflow.monitoring.job import run_checks
from taller_mlflow.monitoring.monitor_rest import MonitorTracking
from taller_mlflow.monitoring.reference import PROFILE_FILE
from taller_mlflow.monitoring.schema import prediction_log
from taller_mlflow.penguins import FEATURES, NUMERIC
from taller_mlflow.settings import Settings
from taller_mlflow.training.data import read_penguins
from taller_mlflow.training.model import split
from taller_mlflow.training.trainer import train
from tests.support import wait_for
from tests.support.services import start_stack

MODEL = "modelo_penguins"
BATCH = 50
ARTIFACTS = ROOT / "test-artifacts" / "monitoring"


@pytest.fixture(scope="module")
def env(tmp_path_factory, penguins_mysql_url):
    workdir = tmp_path_factory.mktemp("drift")
    stack = start_stack(workdir)
    trained = train(stack.settings(penguins_mysql_url, quick_grid=True), say=lambda _: None)
    log_url = f"sqlite:///{workdir / 'monitoring.db'}"
    port = free_port()
    api = api_server(
        port,
        stack.tracking_uri,
        workdir / "api.log",
        extra_env={"PREDICTION_LOG_URL": log_url, "TALLER_PREDICTION_LOG_FLUSH_SECONDS": "0.2"},
    ).start(timeout=120)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    engine = sa.create_engine(log_url)
    yield stack, http, client, engine, trained, log_url
    http.close()
    api.stop()
    engine.dispose()
    stack.close()


def held_out(data_url: str) -> pd.DataFrame:
    """The 100 held-out penguins of the training split, each three times, shuffled: 300 rows."""
    _, x_test, _, _ = split(read_penguins(data_url).frame)
    return pd.concat([x_test] * 3, ignore_index=True).sample(frac=1, random_state=3)


def logged_rows(engine) -> int:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("prediction_log"):
            return 0
        return conn.execute(sa.select(sa.func.count()).select_from(prediction_log)).scalar()


def send(http, engine, rows: pd.DataFrame) -> tuple[datetime, datetime]:
    """POST the rows to /predict in batches; the window from just before the first request to
    just after the last row is in the log."""
    before = logged_rows(engine)
    start = datetime.now(UTC)
    records = rows[FEATURES].to_dict(orient="records")
    for i in range(0, len(records), BATCH):
        response = http.post("/predict", json=records[i : i + BATCH])
        assert response.status_code == 200, response.text
    target = before + len(records)
    assert wait_for(lambda: logged_rows(engine) >= target, 30, interval=0.2), logged_rows(engine)
    time.sleep(0.01)  # the next window starts strictly after this one's last row
    return start, datetime.now(UTC)


def statuses(run) -> dict[str, int]:
    return {f: int(run.data.metrics[f"status_{f}"]) for f in FEATURES}


def artifacts(client, run_id) -> set[str]:
    return {a.path for a in client.list_artifacts(run_id)}


def test_training_logs_the_reference_profile_with_the_registered_model(env):
    _, _, client, _, trained, _ = env
    version = client.get_model_version(MODEL, trained.model_version)
    assert version.run_id == trained.run_id
    assert PROFILE_FILE in artifacts(client, trained.run_id)


def test_held_out_stream_is_ok_and_the_shifted_one_drifts_on_exactly_two_features(
    env, penguins_mysql_url, tmp_path
):
    stack, http, client, engine, trained, log_url = env
    version = trained.model_version
    stream = held_out(penguins_mysql_url)

    # 1. the held-out penguins as they are, checked in process
    ok_window = send(http, engine, stream)
    settings = Settings(mlflow_tracking_uri=stack.tracking_uri, prediction_log_url=log_url)
    # the job's own REST client writes; MLflow's client reads what it wrote
    [first] = run_checks(settings, engine, MonitorTracking(stack.tracking_uri), *ok_window)
    assert (first.model, first.version, first.rows, first.status) == (MODEL, version, 300, "ok")
    assert first.report.drifted == []
    ok_run = client.get_run(first.run_id)
    assert statuses(ok_run) == dict.fromkeys(FEATURES, 0)
    assert ok_run.data.metrics["drift_status"] == 0
    assert client.get_model_version(MODEL, version).tags["drift.status"] == "ok"

    # 2. the same penguins 25% heavier, all on Biscoe, checked by the command line
    shifted = stream.assign(body_mass_g=stream["body_mass_g"] * 1.25, island="Biscoe")
    since, until = send(http, engine, shifted)
    out = subprocess.run(
        [sys.executable, "-m", "taller_mlflow.monitor", "--once"]
        + ["--since", since.isoformat(), "--until", until.isoformat()],
        cwd=ROOT,
        env={
            **os.environ,
            "PREDICTION_LOG_URL": log_url,
            "MLFLOW_TRACKING_URI": stack.tracking_uri,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert f"{MODEL}/{version}: 300 rows, drift" in out.stdout, out.stdout
    assert "drifted: body_mass_g, island" in out.stdout, out.stdout

    experiment = client.get_experiment_by_name(f"monitoring_{MODEL}")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    assert [r.info.run_id for r in runs][0] == first.run_id and len(runs) == 2
    drift_run = runs[1]
    assert statuses(drift_run) == {**dict.fromkeys(FEATURES, 0), "body_mass_g": 2, "island": 2}
    assert drift_run.data.metrics["drift_status"] == 2
    assert drift_run.data.tags["drift.features"] == "body_mass_g,island"
    assert drift_run.data.params["window_start"] == since.isoformat()
    for run in runs:
        assert run.info.status == "FINISHED"
        assert {"drift_report.png", "drift_report.json"} <= artifacts(client, run.info.run_id)
    # The pictures, for people: the monitoring runs' reference-vs-current histograms.
    for run, name in zip(runs, ("ok", "drift"), strict=True):
        picture = client.download_artifacts(run.info.run_id, "drift_report.png", str(tmp_path))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"drift_report_{name}.png").write_bytes(Path(picture).read_bytes())
    for run in runs:
        for feature in [*NUMERIC, "island", "sex", "prediction"]:
            assert f"psi_{feature}" in run.data.metrics and f"p_value_{feature}" in run.data.metrics

    tags = client.get_model_version(MODEL, version).tags
    assert tags["drift.status"] == "drift"
    assert tags["drift.run_id"] == drift_run.info.run_id
    checked = datetime.fromisoformat(tags["drift.checked_at"])
    assert since <= checked <= datetime.now(UTC)

    listing = http.get("/listar_modelos").json()
    model = next(m for m in listing["modelos"] if m["name"] == MODEL)
    entry = next(v for v in model["versions"] if v["version"] == version)
    assert (entry["drift_status"], entry["drift_checked_at"]) == ("drift", tags["drift.checked_at"])


def test_as_a_service_it_checks_on_its_schedule_and_serves_the_gauges(env, penguins_mysql_url):
    """The loop `make run` supervises and the stack's monitor service runs: a pass every
    interval, gauges on /metrics, a clean exit on SIGTERM."""
    stack, http, _, engine, trained, log_url = env
    send(http, engine, held_out(penguins_mysql_url).head(20))
    port = free_port()
    job = monitor_server(stack.tracking_uri, log_url, stack.workdir / "monitor.log", port)
    job.env.update(TALLER_MONITOR_INTERVAL_SECONDS="1", TALLER_MONITOR_MIN_ROWS="10")
    job.start(timeout=60)
    labels = f'model="{MODEL}",version="{trained.model_version}"'

    def gauges() -> str:
        """The metrics once two passes went well: the loop goes on after its first."""
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        passes = re.search(r'^monitor_passes_total\{outcome="ok"\} (\S+)$', text, re.M)
        return text if passes and float(passes[1]) >= 2 else ""

    try:
        text = wait_for(gauges, 60, interval=0.5)
        assert text, job._tail()
        assert f"model_drift_status{{{labels}}}" in text
        for feature in [*FEATURES, "prediction"]:
            assert f'model_feature_drift{{feature="{feature}",{labels}}}' in text, feature
    finally:
        job.stop()
    assert job.proc.returncode == 0, job._tail()
