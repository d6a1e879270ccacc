"""Who may call the API and how much, in process: API keys, CORS, the per-client rate limit and
the concurrency limit; probes, /metrics and the docs stay open whatever is configured."""

import threading

import pytest
from fastapi.testclient import TestClient

from app.factory import create_app
from taller_mlflow.serving.artifacts import ServedModel
from taller_mlflow.serving.build import build_registry
from tests.support import ADELIE
from tests.unit.fakes import FakeGraph, fake_manifest
from tests.unit.serving_fixtures import unit_settings

OPEN = ["/health", "/ready", "/metrics", "/ping", "/v2/health/live", "/docs", "/openapi.json"]


@pytest.fixture
def make_api(make_registry):
    def make(**overrides):
        settings = unit_settings(shadow_fraction=0, **overrides)
        return TestClient(create_app(settings, make_registry(settings)))

    return make


def test_with_no_keys_configured_nothing_asks_for_one(make_api):
    with make_api() as api:
        assert api.post("/predict", json=ADELIE).status_code == 200


def test_with_keys_a_request_without_one_is_401_naming_how_to_send_it(make_api):
    with make_api(api_keys="k-one,k-two") as api:
        answer = api.post("/predict", json=ADELIE)
        wrong = api.post("/predict", json=ADELIE, headers={"Authorization": "Bearer nope"})
        listing = api.get("/listar_modelos")
        invocations = api.post("/invocations", json={"inputs": [ADELIE]})
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer KEY" in answer.json()["detail"]
    assert wrong.status_code == 401 and "not valid" in wrong.json()["detail"]
    assert listing.status_code == invocations.status_code == 401
    assert answer.headers["x-request-id"]  # refusals carry the request id too


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer k-two"}, {"X-API-Key": "k-one"}],
    ids=["bearer", "x-api-key"],
)
def test_with_keys_either_header_carries_a_valid_one(make_api, headers):
    with make_api(api_keys="k-one,k-two") as api:
        assert api.post("/predict", json=ADELIE, headers=headers).status_code == 200


def test_probes_metrics_and_docs_need_no_key(make_api):
    with make_api(api_keys="k-one") as api:
        for path in OPEN:
            assert api.get(path).status_code == 200, path


def test_cors_is_off_unless_origins_are_set(make_api):
    preflight = {"Origin": "http://class.example", "Access-Control-Request-Method": "POST"}
    with make_api() as api:
        assert "access-control-allow-origin" not in api.get("/health", headers=preflight).headers
    with make_api(cors_origins="http://class.example", api_keys="k") as api:
        allowed = api.options("/predict", headers=preflight)  # a preflight carries no key
        other = api.options("/predict", headers={**preflight, "Origin": "http://evil.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://class.example"
    assert "access-control-allow-origin" not in other.headers


def test_past_the_rate_limit_a_client_gets_429_while_another_is_served(make_api):
    with make_api(rate_limit="5/minute", api_keys="alice,bob") as api:
        alice = [
            api.post("/predict", json=ADELIE, headers={"X-API-Key": "alice"}) for _ in range(8)
        ]
        bob = api.post("/predict", json=ADELIE, headers={"X-API-Key": "bob"})
        health = api.get("/health")
        metrics = api.get("/metrics").text
    assert [r.status_code for r in alice] == [200] * 5 + [429] * 3
    refused = alice[-1]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "rate limit of 5 per 1 minute exceeded" in refused.json()["detail"]
    assert bob.status_code == 200 and health.status_code == 200
    assert 'api_refused_total{reason="rate"} 3.0' in metrics


def test_a_malformed_rate_limit_stops_the_settings_with_one_line():
    with pytest.raises(ValueError, match="couldn't parse rate limit string 'lots'"):
        unit_settings(rate_limit="lots")


class Gate(FakeGraph):
    def __init__(self):
        self.entered, self.release = threading.Event(), threading.Event()

    def predict_proba(self, columns):
        if len(columns["island"]) > 1:  # the blocked request sends two penguins
            self.entered.set()
            assert self.release.wait(30)
        return super().predict_proba(columns)


def test_past_the_concurrency_limit_a_worker_answers_503_and_probes_still_answer(client):
    graph = Gate()
    settings = unit_settings(shadow_fraction=0, max_concurrent_requests=1, inline_body_bytes=0)

    def loader(name, version):
        return ServedModel(name, version, None, fake_manifest(name, version), graph)

    registry = build_registry(settings, rest=client, loader=loader, probe=dict)
    with TestClient(create_app(settings, registry)) as api:
        held = []
        thread = threading.Thread(
            target=lambda: held.append(api.post("/predict", json=[ADELIE, ADELIE]))
        )
        thread.start()
        assert graph.entered.wait(10)
        refused = api.post("/predict", json=ADELIE)
        health = api.get("/health")
        graph.release.set()
        thread.join(30)
    assert held[0].status_code == 200
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert "answering 1 requests already" in refused.json()["detail"]
    assert health.status_code == 200
