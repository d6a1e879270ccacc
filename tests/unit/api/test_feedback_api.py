"""POST /feedback over HTTP in process: one label's own status, a batch's 207 naming bad items."""

import pytest
from fastapi.testclient import TestClient

from app.factory import create_app
from tests.unit.monitoring.logged import log_engine, log_request
from tests.unit.serving_fixtures import unit_settings


@pytest.fixture
def api(make_registry, tmp_path):
    engine = log_engine(tmp_path)
    log_request(engine, "known", ["Adelie", "Gentoo"])
    engine.dispose()
    settings = unit_settings(prediction_log_url=f"sqlite:///{tmp_path / 'log.db'}")
    with TestClient(create_app(settings, make_registry(settings))) as http:
        yield http


def test_feedback_stores_one_label_with_201(api):
    response = api.post("/feedback", json={"request_id": "known", "species": "Adelie"})
    assert response.status_code == 201, response.text
    assert response.json()["status"] == 201


def test_feedback_rejects_unknown_species_with_422_naming_it(api):
    response = api.post("/feedback", json={"request_id": "known", "species": "Emperor"})
    assert response.status_code == 422
    assert "species: 'Emperor'" in response.json()["detail"]


def test_feedback_batch_stores_the_good_and_answers_207_naming_the_bad(api):
    body = [
        {"request_id": "known", "row": 0, "species": "Adelie"},
        {"request_id": "missing", "species": "Adelie"},
        {"request_id": "known", "row": 1, "species": "Gentoo"},
        {"request_id": "known", "row": 1, "species": "Adelie"},
    ]
    response = api.post("/feedback", json=body)
    assert response.status_code == 207, response.text
    answer = response.json()
    assert answer["stored"] == 2
    assert [(r["index"], r["status"]) for r in answer["rejected"]] == [(1, 404), (3, 409)]
    assert [i["status"] for i in answer["items"]] == [201, 404, 201, 409]
    again = api.post("/feedback", json=body[:1])
    assert again.status_code == 207 and again.json()["rejected"][0]["status"] == 409


def test_feedback_all_good_batch_answers_200(api):
    body = [{"request_id": "known", "row": r, "species": "Adelie"} for r in (0, 1)]
    response = api.post("/feedback", json=body)
    assert response.status_code == 200 and response.json()["stored"] == 2


def test_feedback_refuses_bad_json_and_oversized_batches(api):
    assert api.post("/feedback", content=b"{nope").status_code == 400
    too_many = [{"request_id": "known", "species": "Adelie"}] * 1001
    assert api.post("/feedback", json=too_many).status_code == 413


def test_feedback_without_a_prediction_log_is_404_saying_so(make_registry):
    settings = unit_settings()
    with TestClient(create_app(settings, make_registry(settings))) as http:
        response = http.post("/feedback", json={"request_id": "x", "species": "Adelie"})
    assert response.status_code == 404 and "PREDICTION_LOG_URL" in response.json()["detail"]
