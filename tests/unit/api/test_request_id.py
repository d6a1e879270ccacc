"""Request ids and prediction events in process: X-Request-ID on every answer, one event per
prediction request from every protocol, and observers that fail without touching the answer."""

import re
import time
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from app.factory import create_app
from app.middleware import new_request_id
from taller_mlflow.monitoring.schema import prediction_log
from taller_mlflow.penguins import FEATURES
from taller_mlflow.serving.events import Prediction
from tests.support import ADELIE, GENTOO
from tests.unit.serving_fixtures import unit_settings

PENGUINS = [ADELIE, GENTOO, {**ADELIE, "island": "Dream"}]
EXPECTED = ["Adelie", "Gentoo", "Chinstrap"]
HEX_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def events() -> list[Prediction]:
    return []


@pytest.fixture
def api(make_registry, events):
    settings = unit_settings()
    app = create_app(settings, make_registry(settings), observers=[events.append])
    with TestClient(app) as http:
        yield http


def v2_inputs(penguins):
    return [
        {
            "name": c,
            "shape": [len(penguins)],
            "datatype": "BYTES" if c in ("island", "sex") else "FP64",
            "data": [p[c] for p in penguins],
        }
        for c in FEATURES
    ]


def split(penguins):
    return {
        "dataframe_split": {
            "columns": FEATURES,
            "data": [[p[c] for c in FEATURES] for p in penguins],
        }
    }


# (request, the endpoint its events carry, the alias that served it)
PROTOCOLS = {
    "predict": (("/predict", PENGUINS), "/predict", "production"),
    "predict-version": (
        ("/predict", [{**p, "model": "modelo_penguins/1"} for p in PENGUINS]),
        "/predict",
        None,
    ),
    "invocations": (("/invocations", split(PENGUINS)), "/invocations", "production"),
    "v2": (
        ("/v2/models/modelo_penguins/infer", {"inputs": v2_inputs(PENGUINS)}),
        "/v2/models/{name}/infer",
        "production",
    ),
    "v2-version": (
        ("/v2/models/modelo_penguins/versions/1/infer", {"inputs": v2_inputs(PENGUINS)}),
        "/v2/models/{name}/versions/{version}/infer",
        None,
    ),
}


def test_every_answer_carries_a_fresh_request_id(api):
    ids = {api.get(path).headers["x-request-id"] for path in ("/health", "/nowhere", "/health")}
    assert len(ids) == 3 and all(HEX_ID.match(i) for i in ids)
    bad = api.post("/predict", content=b"not json")
    assert bad.status_code == 400 and HEX_ID.match(bad.headers["x-request-id"])


def test_made_ids_are_uuid7_and_sort_in_the_order_they_were_made():
    made = []
    for _ in range(5):
        made += [new_request_id() for _ in range(200)]
        time.sleep(0.002)  # a new millisecond: ordered across them, random within one
    ids = [uuid.UUID(i) for i in made]
    assert {(i.version, i.variant) for i in ids} == {(7, uuid.RFC_4122)}
    assert len(set(made)) == len(made)
    ms = [i.int >> 80 for i in ids]
    assert ms == sorted(ms) and ms[-1] > ms[0]
    assert abs(ms[-1] - time.time() * 1000) < 60_000  # milliseconds since the epoch


def test_a_sane_client_id_is_echoed(api):
    response = api.post("/predict", json=ADELIE, headers={"X-Request-ID": "trace-42.a_B"})
    assert response.headers["x-request-id"] == "trace-42.a_B"


@pytest.mark.parametrize(
    "garbage", [b"x" * 65, b"has space", b"semi;colon", "ünï".encode(), b"", b"a\tb"]
)
def test_an_insane_client_id_is_replaced(api, garbage):
    response = api.get("/health", headers={"X-Request-ID": garbage})
    assert HEX_ID.match(response.headers["x-request-id"])
    assert len(response.headers.get_list("x-request-id")) == 1


@pytest.mark.parametrize("name", PROTOCOLS)
def test_each_protocol_emits_one_event_per_request(api, events, name):
    (path, body), endpoint, alias = PROTOCOLS[name]
    response = api.post(path, json=body, headers={"X-Request-ID": f"req-{name}"})
    assert response.status_code == 200, response.text
    assert len(events) == 1
    event = events[0]
    assert event.request_id == f"req-{name}" == response.headers["x-request-id"]
    assert event.endpoint == endpoint
    assert (event.model_name, event.model_alias) == ("modelo_penguins", alias)
    assert event.model_version == ("2" if alias else "1")
    assert event.labels == EXPECTED and event.rows == 3
    assert event.proba.shape == (3, len(event.classes))
    assert list(event.proba.argmax(axis=1)) == [event.classes.index(x) for x in EXPECTED]
    assert set(event.features) == set(FEATURES)
    assert [len(v) for v in event.features.values()] == [3] * 6
    assert list(event.features["island"]) == ["Torgersen", "Biscoe", "Dream"]
    assert list(event.features["sex"]) == ["MALE", "FEMALE", "MALE"]  # as validated
    assert list(event.features["body_mass_g"]) == [3750.0, 5500.0, 3750.0]
    assert event.latency_ms > 0 and event.ts.tzinfo is not None


def test_a_batch_asking_for_two_versions_emits_an_event_per_version(api, events):
    body = [ADELIE, {**GENTOO, "model": "modelo_penguins/1"}, {**ADELIE, "island": "Dream"}]
    assert api.post("/predict", json=body).status_code == 200
    by_version = {e.model_version: e for e in events}
    assert sorted(by_version) == ["1", "2"]
    assert by_version["2"].labels == ["Adelie", "Chinstrap"]
    assert by_version["1"].labels == ["Gentoo"]
    assert len({e.request_id for e in events}) == 1


def test_failed_predictions_emit_nothing(api, events):
    assert api.post("/predict", json={**ADELIE, "sex": "X"}).status_code == 422
    assert api.post("/invocations", json={"dataframe_split": {"columns": []}}).status_code == 400
    assert api.post("/predict", json={**ADELIE, "model": "nope"}).status_code == 404
    assert events == []


def test_an_observer_that_raises_changes_nothing_but_a_counter(api, events):
    def broken(_event):
        raise RuntimeError("observer down")

    api.app.state.plane.observers.insert(0, broken)
    before = errors_counted(api)
    for (path, body), _, _ in PROTOCOLS.values():
        response = api.post(path, json=body)
        assert response.status_code == 200, response.text
    assert len(events) == len(PROTOCOLS)  # the next observer still ran
    assert errors_counted(api) == before + len(PROTOCOLS)


def errors_counted(api) -> float:
    for line in api.get("/metrics").text.splitlines():
        if line.startswith("prediction_observer_errors_total "):
            return float(line.split()[1])
    raise AssertionError("prediction_observer_errors_total not in /metrics")


def test_with_a_log_url_the_factory_logs_every_protocol_and_flushes_on_shutdown(
    make_registry, tmp_path
):
    url = f"sqlite:///{tmp_path / 'monitoring.db'}"
    # flush_seconds far away: only the shutdown's flush can write these rows
    settings = unit_settings(prediction_log_url=url, prediction_log_flush_seconds=600)
    with TestClient(create_app(settings, make_registry(settings))) as http:
        for name, ((path, body), _, _) in PROTOCOLS.items():
            assert http.post(path, json=body, headers={"X-Request-ID": name}).status_code == 200
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        query = sa.select(prediction_log.c.request_id, prediction_log.c.endpoint, sa.func.count())
        rows = conn.execute(query.group_by(prediction_log.c.request_id, prediction_log.c.endpoint))
        logged = {rid: (endpoint, n) for rid, endpoint, n in rows}
    engine.dispose()
    assert logged == {name: (endpoint, 3) for name, (_, endpoint, _) in PROTOCOLS.items()}
