"""GET /predictions/{request_id} in process: the log's rows with their labels, and from the fake
registry the move that put each version live (the trail's tag, else the version's own tags)."""

import json

import pytest
from fastapi.testclient import TestClient

from app.factory import create_app
from taller_mlflow.serving.promotions import promotion_of
from tests.unit.monitoring.logged import T0, log_engine, log_request, minutes
from tests.unit.serving_fixtures import unit_settings

NAME = "modelo_penguins"
MOVE = {"at": (T0 - minutes(5)).isoformat(), "alias": "production", "from": "1", "to": "2"}


@pytest.fixture
def api(make_registry, client, tmp_path):
    engine = log_engine(tmp_path)
    log_request(engine, "batch", ["Adelie", "Gentoo"], version="2")
    log_request(engine, "batch", ["Adelie", "Adelie"], version="1", endpoint="shadow")
    engine.dispose()
    client.models[NAME]["tags"] = {
        "promotion.move.production.0000000000001": json.dumps(
            {**MOVE, "path": "gate", "evidence": {"accuracy": "0.97 vs 0.96"}}
        )
    }
    client.models[NAME]["versions"]["2"]["tags"]["promotion.forced"] = "false"
    settings = unit_settings(prediction_log_url=f"sqlite:///{tmp_path / 'log.db'}")
    with TestClient(create_app(settings, make_registry(settings))) as http:
        yield http


def test_audit_returns_each_row_with_inputs_answer_version_alias_and_label(api):
    api.post("/feedback", json={"request_id": "batch", "row": 1, "species": "Chinstrap"})
    response = api.get("/predictions/batch")
    assert response.status_code == 200, response.text
    body = response.json()
    rows = body["rows"]
    assert [(r["row"], r["prediction"], r["version"], r["alias"]) for r in rows] == [
        (0, "Adelie", "2", "production"),
        (1, "Gentoo", "2", "production"),
    ]  # the shadow's rows are not the answer
    assert rows[0]["inputs"]["island"] == "Torgersen" and rows[0]["label"] is None
    assert rows[1]["label"]["species"] == "Chinstrap"
    promotion = body["promotions"][f"{NAME}/2"]
    assert promotion["move"]["path"] == "gate" and promotion["move"]["from"] == "1"
    assert promotion["forced"] is False and promotion["tags"]["promotion.forced"] == "false"


def test_audit_of_an_unknown_request_is_404_and_an_aged_out_one_410(api):
    assert api.get("/predictions/nope").status_code == 404
    old = "000000000001" + "7" + "0" * 19  # a UUIDv7 made in 1970
    response = api.get(f"/predictions/{old}")
    assert response.status_code == 410 and "retention" in response.json()["detail"]


def test_audit_with_the_registry_down_still_returns_the_rows(api, client):
    client.down = True
    body = api.get("/predictions/batch").json()
    assert len(body["rows"]) == 2 and "error" in body["promotions"][f"{NAME}/2"]


def test_promotion_without_a_trail_falls_back_to_the_version_tags():
    tags = {
        "promotion.promoted_at": "2026-01-01T00:00:00+00:00",
        "promotion.forced": "true",
        "promotion.previous_version": "3",
        "serving.sha256": "abc",
    }
    found = promotion_of({}, tags, "production", "4")
    assert found["move"]["path"] == "force" and found["move"]["from"] == "3"
    assert found["forced"] is True and "serving.sha256" not in found["tags"]


def test_the_move_chosen_is_the_last_one_before_the_answer():
    moves = {
        f"promotion.move.production.{i:013d}": json.dumps(
            {"at": at, "alias": "production", "to": "2", "path": path}
        )
        for i, (at, path) in enumerate([("2026-01-01", "gate"), ("2026-03-01", "rollback")])
    }
    assert promotion_of(moves, {}, "production", "2", "2026-02-01")["move"]["path"] == "gate"
    assert promotion_of(moves, {}, "production", "2", "2026-04-01")["move"]["path"] == "rollback"
