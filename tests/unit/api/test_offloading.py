"""Where the data plane runs the work: small bodies for loaded models inline, large bodies (parsed
as well as scored) on a scoring thread, so /health answers while they run; past its pending limit
the worker answers 503 with Retry-After instead of queueing without bound."""

import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.factory import create_app
from taller_mlflow.penguins import FEATURES
from taller_mlflow.serving.artifacts import ServedModel
from taller_mlflow.serving.build import build_registry
from tests.support import ADELIE
from tests.unit.fakes import FakeGraph, fake_manifest
from tests.unit.serving_fixtures import unit_settings


class RecordingGraph(FakeGraph):
    """Notes which thread scores; on a scoring thread, blocks on `gate` when one is set."""

    def __init__(self):
        self.threads: list[str] = []
        self.entered = threading.Event()
        self.gate: threading.Event | None = None

    def predict_proba(self, columns):
        name = threading.current_thread().name
        self.threads.append(name)
        if self.gate is not None and name.startswith("score"):
            self.entered.set()
            assert self.gate.wait(30), "the test never released the graph"
        return super().predict_proba(columns)


@pytest.fixture
def graph() -> RecordingGraph:
    return RecordingGraph()


@pytest.fixture
def make_api(client, graph):
    def make(**overrides):
        settings = unit_settings(shadow_fraction=0, **overrides)

        def loader(name, version):
            return ServedModel(name, version, None, fake_manifest(name, version), graph)

        registry = build_registry(settings, rest=client, loader=loader, probe=dict)
        return TestClient(create_app(settings, registry))

    return make


def split_body(rows: int) -> dict:
    row = [ADELIE[c] for c in FEATURES]
    return {"dataframe_split": {"columns": FEATURES, "data": [row] * rows}}


def test_a_small_request_for_a_loaded_model_is_scored_inline(make_api, graph):
    with make_api() as api:
        graph.threads.clear()  # the warm-up's smoke prediction ran elsewhere
        assert api.post("/predict", json=ADELIE).status_code == 200
        assert api.post("/invocations", json=split_body(2)).status_code == 200
    assert not any(name.startswith("score") for name in graph.threads)


def test_a_large_body_is_parsed_and_scored_on_a_scoring_thread(make_api, graph):
    with make_api(inline_body_bytes=1024) as api:
        graph.threads.clear()
        response = api.post("/invocations", json=split_body(500))
        assert response.status_code == 200 and len(response.json()["predictions"]) == 500
        batch = [ADELIE] * 100
        assert len(api.post("/predict", json=batch).json()) == 100
    assert len(graph.threads) == 2 and all(n.startswith("score") for n in graph.threads)


def test_health_answers_while_a_large_body_is_being_scored(make_api, graph):
    with make_api(inline_body_bytes=1024) as api:
        graph.gate = threading.Event()
        graph.entered.clear()
        answers = []
        big = threading.Thread(
            target=lambda: answers.append(api.post("/invocations", json=split_body(2000)))
        )
        big.start()
        assert graph.entered.wait(10), "the large request never reached the graph"
        # The large request holds a scoring thread: the event loop is free for everything else.
        assert api.get("/health").json() == {"status": "ok"}
        assert api.post("/predict", json=ADELIE).status_code == 200  # small, inline
        graph.gate.set()
        big.join(30)
    assert answers[0].status_code == 200


def test_past_its_pending_limit_the_worker_answers_503_with_retry_after(make_api, graph):
    with make_api(inline_body_bytes=1024, scoring_threads=1, max_pending_requests=1) as api:
        graph.gate = threading.Event()
        graph.entered.clear()
        first = []
        thread = threading.Thread(
            target=lambda: first.append(api.post("/invocations", json=split_body(500)))
        )
        thread.start()
        assert graph.entered.wait(10)
        refused = api.post("/invocations", json=split_body(500))
        v2 = api.post("/v2/models/modelo_penguins/infer", content=b"x" * 2000)
        graph.gate.set()
        thread.join(30)
        metrics = api.get("/metrics").text
    assert first[0].status_code == 200
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert "busy" in refused.json()["message"]
    assert v2.status_code == 503 and "busy" in v2.json()["error"]
    assert "api_overloaded_total 2.0" in metrics


def test_answers_are_the_same_inline_and_on_a_scoring_thread(make_api):
    bodies = {}
    for inline in (1_000_000, 0):
        with make_api(inline_body_bytes=inline) as api:
            bodies[inline] = [
                api.post("/invocations", json=split_body(3)).json(),
                api.post("/predict", json=[ADELIE, ADELIE]).json(),
            ]
    assert bodies[0] == bodies[1_000_000]
    assert np.all([p == "Adelie" for p in bodies[0][0]["predictions"]])
