"""Shadow scoring in process: a sampled share of production's requests is scored by @challenger
off the response path; answers never change, agreement is counted per challenger version."""

import random
import threading
from datetime import UTC, datetime

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from app.factory import create_app
from taller_mlflow.penguins import FEATURES
from taller_mlflow.serving import dataplane
from taller_mlflow.serving.artifacts import NotServable, ServedModel
from taller_mlflow.serving.build import build_registry
from taller_mlflow.serving.events import Prediction
from taller_mlflow.serving.shadow import ShadowScorer
from tests.support import ADELIE, GENTOO, wait_for
from tests.unit.fakes import CLASSES, FakeGraph, fake_manifest
from tests.unit.serving_fixtures import unit_settings

CHINSTRAP = {**ADELIE, "island": "Dream"}


class AlwaysGentoo(FakeGraph):
    """A challenger that disagrees with production on every penguin not from Biscoe."""

    def __init__(self, gate: threading.Event | None = None):
        self.gate = gate

    def predict_proba(self, columns):
        if self.gate is not None:  # stuck until released
            self.gate.wait(30)
        proba = np.full((len(columns["island"]), 3), 0.05)
        proba[:, 2] = 0.9
        return proba


def served(name, version, graph=None) -> ServedModel:
    return ServedModel(name, version, None, fake_manifest(name, version), graph or FakeGraph())


@pytest.fixture
def challenger(client):
    """modelo_penguins v3 @challenger (always Gentoo); v2 stays @production."""
    version = client.add_version("modelo_penguins")
    client.set_alias("modelo_penguins", "challenger", version)
    return version


def make_app(client, fraction=1.0, challenger_model=None, **settings):
    settings = unit_settings(shadow_fraction=fraction, **settings)

    def loader(name, version):
        return served(name, version, challenger_model if version == "3" else None)

    registry = build_registry(settings, rest=client, loader=loader, probe=dict)
    return create_app(settings, registry)


def event(alias="production", version="2", rows=(ADELIE,), labels=None) -> Prediction:
    return Prediction(
        request_id="r1",
        endpoint="/predict",
        model_name="modelo_penguins",
        model_version=version,
        model_alias=alias,
        features={c: np.asarray([r[c] for r in rows]) for c in FEATURES},
        labels=labels or ["Adelie"] * len(rows),
        proba=np.full((len(rows), 3), 1 / 3),
        classes=CLASSES,
        latency_ms=1.0,
        ts=datetime.now(UTC),
    )


def test_bodies_are_the_same_with_and_without_a_challenger(client, challenger):
    penguins = [ADELIE, GENTOO, CHINSTRAP]
    answers = {}
    for fraction in (0.0, 1.0):
        with TestClient(make_app(client, fraction, AlwaysGentoo())) as api:
            single = api.post("/predict", json=ADELIE)
            batch = api.post("/predict", json=penguins)
            answers[fraction] = (single.status_code, single.json(), batch.json())
    assert answers[0.0] == answers[1.0]
    assert [p["prediction"] for p in answers[1.0][2]] == ["Adelie", "Gentoo", "Chinstrap"]


def shadow_rows(metrics_text: str, version: str, agrees: str) -> float:
    wanted = {"model": "modelo_penguins", "challenger_version": version, "agrees": agrees}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "api_shadow_rows_total" and sample.labels == wanted:
                return sample.value
    return 0.0


def test_agreement_is_counted_per_challenger_version_and_listed(client, challenger):
    with TestClient(make_app(client, 1.0, AlwaysGentoo())) as api:
        before = api.get("/metrics").text
        api.post("/predict", json=[ADELIE, GENTOO, CHINSTRAP, GENTOO])  # Gentoo twice: 2 of 4
        shadow = api.app.state.plane.shadow
        assert wait_for(lambda: shadow.scored == 1, 10)
        listing = api.get("/listar_modelos").json()["modelos"][0]["versions"]
        after = api.get("/metrics").text
    versions = {v["version"]: v for v in listing}
    assert versions[challenger]["shadow"] == {
        "rows": 4,
        "agreed": 2,
        "agreement_rate": 0.5,
        "against_versions": ["2"],
    }
    assert versions["2"]["shadow"] is None
    for agrees in ("true", "false"):
        grown = shadow_rows(after, challenger, agrees) - shadow_rows(before, challenger, agrees)
        assert grown == 2


def test_the_response_does_not_wait_for_a_stuck_challenger(client, challenger):
    """The challenger blocks until released: every answer still comes back, and once the small
    queue is full the extra samples are dropped (counted), never queued on the request."""
    gate = threading.Event()
    app = make_app(client, 1.0, AlwaysGentoo(gate))
    with TestClient(app) as api:
        app.state.plane.shadow.queue_rows = 2
        dropped = REGISTRY.get_sample_value("api_shadow_dropped_total", {"reason": "queue_full"})
        answers = [api.post("/predict", json=GENTOO) for _ in range(6)]
        metrics = api.get("/metrics").text
        shadow = app.state.plane.shadow
        queued, taken = len(shadow.queue), shadow.taken
        gate.set()
    assert [a.status_code for a in answers] == [200] * 6
    assert all(a.json()["prediction"] == "Gentoo" for a in answers)
    # The stuck worker took what was queued when it woke (at most the queue's 2), two more are
    # queued: the rest, at least two, were dropped, and every sampled request is one of these.
    now = REGISTRY.get_sample_value("api_shadow_dropped_total", {"reason": "queue_full"})
    assert now - (dropped or 0) + queued + taken == 6
    assert now - (dropped or 0) >= 2 and taken <= 2
    assert 'api_shadow_dropped_total{reason="queue_full"}' in metrics


def test_requests_not_served_by_the_production_alias_are_not_shadowed(client, challenger):
    with TestClient(make_app(client, 1.0, AlwaysGentoo())) as api:
        api.post("/predict", json={**ADELIE, "model": "modelo_penguins/2"})
        api.post("/predict", json={**ADELIE, "model": "modelo_penguins@challenger"})
        assert len(api.app.state.plane.shadow.queue) + api.app.state.plane.shadow.scored == 0


def test_an_unsampled_request_builds_no_event(client, challenger, monkeypatch):
    """With shadow scoring the only observer, the response path builds an event only for the
    sampled share: here rng says "not sampled" for all but the third request."""
    built = []
    real = dataplane.Prediction
    monkeypatch.setattr(dataplane, "Prediction", lambda **kw: built.append(kw) or real(**kw))
    app = make_app(client, 0.1, AlwaysGentoo())
    draws = iter([0.5, 0.9, 0.05, 0.7])
    with TestClient(app) as api:
        app.state.plane.shadow.rng = lambda: next(draws)
        answers = [api.post("/predict", json=ADELIE).status_code for _ in range(4)]
        assert wait_for(lambda: app.state.plane.shadow.scored == 1, 10)
    assert answers == [200] * 4
    assert len(built) == 1


def test_the_sampled_share_follows_the_fraction(client, make_registry):
    scorer = ShadowScorer(make_registry(), 0.1, rng=random.Random(7).random, start=False)
    scorer.queue_rows = 10**9  # unbounded, to count
    for _ in range(5000):
        e = event()
        if scorer.wants(e.model_alias):
            scorer(e)
    # 500 expected; 5 standard deviations of Binomial(5000, 0.1) is 106
    assert 394 <= len(scorer.queue) <= 606
    assert ShadowScorer(make_registry(), 0.0, start=False).wants("production") is False


def test_no_challenger_means_no_rows_and_no_registry_call_per_request(client, make_registry):
    registry = make_registry(unit_settings(not_found_cache_seconds=3600))
    scorer = ShadowScorer(registry, 1.0, start=False)
    before = client.calls["get_model_version_by_alias"]
    for _ in range(20):
        scorer.score_batch([event()])
    assert client.calls["get_model_version_by_alias"] == before + 1
    assert scorer.stats() == {}


def test_shadow_rows_go_to_the_sink_with_the_request_id_and_agreement(client, challenger):
    settings = unit_settings()
    rows = []
    registry = build_registry(
        settings,
        rest=client,
        loader=lambda n, v: served(n, v, AlwaysGentoo() if v == "3" else None),
        probe=dict,
    )
    scorer = ShadowScorer(registry, 1.0, sink=rows.append, start=False)
    scorer.score_batch([event(rows=(ADELIE, GENTOO), labels=["Adelie", "Gentoo"])])
    (shadow,) = rows
    assert (shadow.endpoint, shadow.model_version, shadow.model_alias) == (
        "shadow",
        "3",
        "challenger",
    )
    assert shadow.request_id == "r1"
    assert shadow.labels == ["Gentoo", "Gentoo"] and shadow.agrees == [False, True]


def test_a_challenger_that_cannot_load_is_not_used_and_shows_its_failure(client, challenger):
    settings = unit_settings()

    def loader(name, version):
        if version == challenger:
            raise NotServable(f"{name}/{version} has no verified serving artifact")
        return served(name, version)

    registry = build_registry(settings, rest=client, loader=loader, probe=dict)
    scorer = ShadowScorer(registry, 1.0, start=False)
    scorer.score_batch([event()])
    assert scorer.stats() == {}
    assert "no verified" in registry.cache.failure("modelo_penguins", challenger).reason


def test_the_shadow_queue_is_bounded_by_rows_not_requests(client, make_registry):
    scorer = ShadowScorer(make_registry(), 1.0, queue_rows=1000, start=False)
    before = REGISTRY.get_sample_value("api_shadow_dropped_total", {"reason": "queue_full"}) or 0
    scorer(event(rows=(ADELIE,) * 999))
    scorer(event(rows=(ADELIE, ADELIE)))  # 1001 rows: over the bound, dropped
    scorer(event())  # exactly 1000: fits
    assert [e.rows for e in scorer.queue] == [999, 1]
    assert scorer.queued_rows == 1000
    scorer.score_batch(scorer._take())
    assert scorer.queued_rows == 0
    now = REGISTRY.get_sample_value("api_shadow_dropped_total", {"reason": "queue_full"})
    assert now == before + 1


class ShadowKilled(BaseException):
    """Escapes the worker's `except Exception`, as a bug in its loop would."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_shadow_worker_that_dies_is_restarted_and_keeps_scoring(client, challenger):
    app = make_app(client, 1.0, AlwaysGentoo())
    with TestClient(app) as api:
        shadow = app.state.plane.shadow
        shadow.thread.watch_seconds = 0.01
        real, calls = shadow.score_batch, []

        def dies_once(events):
            calls.append(1)
            if len(calls) == 1:
                raise ShadowKilled
            real(events)

        shadow.score_batch = dies_once
        api.post("/predict", json=GENTOO)  # its batch kills the worker
        assert wait_for(lambda: shadow.thread.restarts == 1, 10, 0.02)
        api.post("/predict", json=ADELIE)
        assert wait_for(lambda: shadow.stats(), 10, 0.02)
        ready = api.get("/ready").json()
    assert ready["threads"]["shadow"] == {"alive": True, "restarts": 1}
