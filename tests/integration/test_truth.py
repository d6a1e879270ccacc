"""Closing the loop with the truth, against a real MLflow server, the API over HTTP and a
PostgreSQL prediction log: 300 penguins answered, 200 labelled (some twice, 5 unknown ids), the
accuracy equal to a hand computation; a second version promoted through the gate whose labels
contradict it on 40% of its rows, so the alert rule fires (promtool, on the gauges the job
exported) and, with auto-rollback on, @production returns to the first version once, with the
tag trail; the audit endpoint and `promote --history` tell the story of a request answered before
and after the promotion. The accuracy-over-time picture goes to test-artifacts/quality/."""

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml
from mlflow import MlflowClient

from taller_mlflow.monitoring import quality_gauges
from taller_mlflow.monitoring.monitor_rest import MonitorTracking
from taller_mlflow.monitoring.quality_job import run_quality
from taller_mlflow.monitoring.schema import prediction_log
from taller_mlflow.penguins import FEATURES, SPECIES, clean, read_csv
from taller_mlflow.promotion import history
from taller_mlflow.promotion.checks import ACCURACY
from taller_mlflow.settings import Settings
from taller_mlflow.training.data import load_csv_into
from taller_mlflow.training.trainer import train
from tests.support import wait_for
from tests.support.promotion import start_api
from tests.support.services import (
    PG_DSN,
    PG_URL_BASE,
    create_pg_database,
    drop_pg_database,
    start_stack,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "quality"
MODEL = "modelo_penguins"
TOLERANCE = 0.05


def penguins_and_species(n: int) -> tuple[list[dict], list[str]]:
    frame = clean(read_csv()).frame.head(n)
    rows = [
        {c: (str(r[c]) if c in ("island", "sex") else float(r[c])) for c in FEATURES}
        for r in frame.to_dict("records")
    ]
    return rows, [str(s) for s in frame["species"]]


def other(species: str) -> str:
    return next(s for s in SPECIES if s != species)


class Story:
    """What the fixture did, for the tests to check."""


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("truth")
    log_db = create_pg_database(PG_DSN, "truth_log")
    log_url = f"{PG_URL_BASE}/{log_db}"
    stack = start_stack(workdir / "stack")
    api = None
    try:
        data_url = f"sqlite:///{workdir / 'penguins.db'}"
        load_csv_into(data_url)
        train_settings = stack.settings(data_url, quick_grid=True, cv_folds=2)
        first = train(train_settings, say=lambda _: None)
        client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
        api, base = start_api(
            stack,
            workdir,
            PREDICTION_LOG_URL=log_url,
            TALLER_PREDICTION_LOG_FLUSH_SECONDS="0.2",
            MODEL_REFRESH_SECONDS="1",
            TALLER_SHADOW_FRACTION="0",
        )
        engine = sa.create_engine(log_url, pool_pre_ping=True)
        s = Story()
        s.stack, s.client, s.engine, s.first = stack, client, engine, first
        s.settings = Settings(
            _env_file=None,
            mlflow_tracking_uri=stack.tracking_uri,
            prediction_log_url=log_url,
            monitor_min_labels=30,
            quality_tolerance=TOLERANCE,
        )
        with httpx.Client(base_url=base, timeout=60) as http:
            s.http = http
            tell(s, train_settings)
        yield s
    finally:
        if api is not None:
            api.stop()
        stack.close()
        drop_pg_database(log_db, PG_DSN)


def logged_rows(engine, request_id: str | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(prediction_log)
    if request_id is not None:
        query = query.where(prediction_log.c.request_id == request_id)
    try:
        with engine.connect() as conn:
            return conn.execute(query).scalar()
    except sa.exc.ProgrammingError:
        return 0


def tell(s: Story, train_settings) -> None:
    """The whole story, in the order it happens."""
    s.start = datetime.now(UTC) - timedelta(minutes=1)
    penguins, truth = penguins_and_species(300)
    # 1. 300 penguins answered by version 1: two batches of 100, then 100 one by one
    answers, ids = [], []  # per penguin: the prediction, and (request id, row)
    for chunk in (penguins[:100], penguins[100:200]):
        response = s.http.post("/predict", json=chunk)
        assert response.status_code == 200, response.text
        rid = response.headers["x-request-id"]
        answers += [a["prediction"] for a in response.json()]
        ids += [(rid, i) for i in range(len(chunk))]
        s.batch_before = rid
    for penguin in penguins[200:]:
        response = s.http.post("/predict", json=penguin)
        answers.append(response.json()["prediction"])
        ids.append((response.headers["x-request-id"], 0))
    assert {a for a in answers} <= set(SPECIES)
    assert wait_for(lambda: logged_rows(s.engine) == 300, 60), logged_rows(s.engine)
    # 2. labels for 200 of them (batch A and the singles), 3 of them twice, 5 unknown ids
    labelled = list(range(100)) + list(range(200, 300))
    body = [{"request_id": ids[i][0], "row": ids[i][1], "species": truth[i]} for i in labelled]
    body += body[:3] + [{"request_id": f"unknown-{k}", "species": "Adelie"} for k in range(5)]
    s.feedback = s.http.post("/feedback", json=body)
    s.hand_accuracy = sum(answers[i] == truth[i] for i in labelled) / len(labelled)
    s.pass1 = quality_pass(s)
    # 3. version 2, trained the same way, promoted through the gate; the API follows
    s.second = train(train_settings, say=lambda _: None)
    assert s.second.promoted, s.second.promotion
    assert wait_for(lambda: served(s.http) == s.second.model_version, 60)
    # 4. 100 penguins answered by version 2; labels contradict it on 40 of them
    response = s.http.post("/predict", json=penguins[:100])
    s.batch_after = response.headers["x-request-id"]
    predicted = [a["prediction"] for a in response.json()]
    assert {a["version"] for a in response.json()} == {s.second.model_version}
    assert wait_for(lambda: logged_rows(s.engine, s.batch_after) == 100, 60)
    body = [
        {"request_id": s.batch_after, "row": i, "species": other(p) if i % 5 < 2 else p}
        for i, p in enumerate(predicted)
    ]
    s.contradicting = s.http.post("/feedback", json=body)
    # 5. the quality check with auto-rollback on, twice: one rollback, not two
    s.settings = s.settings.model_copy(update={"auto_rollback": True})
    s.pass2 = quality_pass(s)
    s.series = quality_gauges.exposition(s.pass2, TOLERANCE)
    s.pass3 = quality_pass(s)
    s.alias_after = s.client.get_model_version_by_alias(MODEL, "production").version
    s.audit_before = s.http.get(f"/predictions/{s.batch_before}").json()
    s.audit_after = s.http.get(f"/predictions/{s.batch_after}").json()


def served(http) -> str:
    return http.post("/predict", json=penguins_and_species(1)[0][0]).json()["version"]


def quality_pass(s: Story) -> list:
    # the job's own REST client writes; MLflow's client (s.client) reads what it wrote
    tracking = MonitorTracking(s.stack.tracking_uri)
    return run_quality(s.settings, s.engine, tracking, s.start, datetime.now(UTC))


def by_version(checks) -> dict:
    return {c.version: c for c in checks}


def test_a_batch_of_labels_stores_the_good_and_names_the_duplicates_and_unknown_ids(story):
    response = story.feedback
    assert response.status_code == 207, response.text
    body = response.json()
    assert body["stored"] == 200
    rejected = sorted((r["index"], r["status"]) for r in body["rejected"])
    assert rejected == [(200, 409), (201, 409), (202, 409)] + [(203 + k, 404) for k in range(5)]
    assert all("unknown-" in r["detail"] for r in body["rejected"] if r["status"] == 404)


def test_accuracy_equals_the_hand_computation(story):
    [check] = story.pass1
    assert check.version == story.first.model_version and check.labels == 200
    assert check.quality.accuracy == pytest.approx(story.hand_accuracy)
    assert check.quality.estimated_accuracy is not None  # CBPE, beside it
    run = story.client.get_run(check.run_id)
    assert run.data.metrics["accuracy"] == pytest.approx(story.hand_accuracy)
    assert run.data.metrics["heldout_accuracy"] == pytest.approx(story.first.test_accuracy)


def test_labels_contradicting_40_percent_make_the_alert_rule_fire(story, tmp_path):
    assert story.contradicting.status_code == 200, story.contradicting.text
    low = by_version(story.pass2)[story.second.model_version].quality
    assert low.accuracy == pytest.approx(0.6) and low.labels == 100
    exe = shutil.which("promtool")
    assert exe, "promtool not found: apt-get install prometheus"
    series = [
        {"series": name.replace("{", '{job="monitor",', 1), "values": f"{value}x10"}
        for name, value in story.series.items()
        if name.split("{")[0] in ("model_accuracy", "model_accuracy_floor", "model_accuracy_labels")
    ]
    case = {
        "rule_files": [str(ROOT / "prometheus" / "alerts.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": "2m",
                        "alertname": "ModelAccuracyBelowHeldout",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "model": MODEL,
                                    "version": story.second.model_version,
                                },
                                "exp_annotations": annotations(story.second.model_version),
                            }
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "quality.test.json"  # JSON is YAML
    path.write_text(json.dumps(case))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, ARTIFACTS / "quality.test.yml")
    done = subprocess.run([exe, "test", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def annotations(version: str) -> dict:
    """The rule's annotations, as prometheus/alerts.yml words them, for accuracy 0.6."""
    rule = next(
        r
        for g in yaml.safe_load((ROOT / "prometheus" / "alerts.yml").read_text())["groups"]
        for r in g["rules"]
        if r.get("alert") == "ModelAccuracyBelowHeldout"
    )
    text = {k: v.replace("{{ $labels.model }}", MODEL) for k, v in rule["annotations"].items()}
    text = {k: v.replace("{{ $labels.version }}", version) for k, v in text.items()}
    return {k: v.replace('{{ $value | printf "%.3f" }}', "0.600") for k, v in text.items()}


def test_auto_rollback_returns_production_to_the_first_version_once_with_the_tag_trail(story):
    first, second = story.first.model_version, story.second.model_version
    assert story.alias_after == first
    action = by_version(story.pass2)[second].action
    assert f"rolled back from version {second} to {first}" in action
    again = by_version(story.pass3)[second].action
    assert again.startswith("auto-rollback declined") and "not @production" in again
    tags = story.client.get_model_version(MODEL, second).tags
    assert json.loads(tags["quality.auto_rolled_back"])["accuracy"] == pytest.approx(0.6)
    assert f"moved back to version {first}" in tags["promotion.rolled_back"]
    moves = history.moves(story.client, MODEL, "production")
    assert [(m["from"], m["to"], m["path"]) for m in moves] == [
        (None, first, "gate"),
        (first, second, "gate"),
        (second, first, "auto-rollback"),
    ]


def test_the_audit_shows_the_version_its_promotion_and_the_labels_before_and_after(story):
    first, second = story.first.model_version, story.second.model_version
    before, after = story.audit_before, story.audit_after
    assert {r["version"] for r in before["rows"]} == {first} and len(before["rows"]) == 100
    assert before["rows"][0]["alias"] == "production" and before["rows"][0]["label"] is None
    assert before["promotions"][f"{MODEL}/{first}"]["move"]["path"] == "gate"
    assert {r["version"] for r in after["rows"]} == {second}
    assert all(r["label"] is not None for r in after["rows"])
    went_live = after["promotions"][f"{MODEL}/{second}"]
    assert went_live["move"]["from"] == first and went_live["move"]["path"] == "gate"
    assert went_live["forced"] is False and ACCURACY in went_live["move"]["evidence"]
    assert went_live["tags"]["promotion.previous_version"] == first


def test_history_prints_every_move_of_production(story):
    done = subprocess.run(
        [sys.executable, "-m", "taller_mlflow.promote", "--history"],
        capture_output=True,
        text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": story.stack.tracking_uri},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    first, second = story.first.model_version, story.second.model_version
    lines = done.stdout.splitlines()
    assert len(lines) == 3, done.stdout
    assert f"unset -> {first}  [gate]" in lines[0]
    assert f"{first} -> {second}  [gate]" in lines[1]
    assert f"{second} -> {first}  [auto-rollback]" in lines[2] and "floor" in lines[2]


def test_the_accuracy_over_time_picture_is_drawn_from_mlflow(story):
    from taller_mlflow.monitoring.check_runs import experiment_name
    from taller_mlflow.monitoring.quality_over_time import draw

    experiment = story.client.get_experiment_by_name(experiment_name(MODEL))
    runs = story.client.search_runs(
        [experiment.experiment_id], "tags.check = 'quality'", order_by=["attributes.start_time"]
    )
    assert len(runs) == 5  # pass 1: version 1; passes 2 and 3: both versions
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = draw(runs, ARTIFACTS / "quality_over_time.png", TOLERANCE)
    assert path.read_bytes().startswith(b"\x89PNG")
