"""/listar_modelos, /ready, /health and /metrics in process."""

import pytest
from fastapi.testclient import TestClient

from app.factory import create_app
from taller_mlflow.serving.artifacts import NotServable
from taller_mlflow.serving.metrics import registry_hooks
from tests.support import ADELIE
from tests.unit.serving_fixtures import unit_settings


@pytest.fixture
def make_api(make_registry):
    def make(probe=None):
        settings = unit_settings()
        return TestClient(
            create_app(settings, make_registry(settings, probe=probe, hooks=registry_hooks()))
        )

    return make


def test_listar_modelos_keeps_the_workshop_key_and_details_each_version(make_api, client):
    with make_api() as api:
        body = api.get("/listar_modelos").json()
    assert body["modelos_disponibles"] == ["modelo_penguins"]
    model = body["modelos"][0]
    assert model["aliases"] == {"production": "2"}
    assert model["serving"] == {"production": "2"}
    assert [(v["version"], v["loaded"]) for v in model["versions"]] == [("2", True), ("1", False)]


def test_listar_modelos_shows_a_version_that_failed_to_load(make_api, client, loader):
    broken = client.add_version("modelo_penguins")
    loader.broken[("modelo_penguins", broken)] = NotServable("no verified serving artifact")
    with make_api() as api:
        api.post("/predict", json={**ADELIE, "model": f"modelo_penguins/{broken}"})
        versions = api.get("/listar_modelos").json()["modelos"][0]["versions"]
        metrics = api.get("/metrics").text
    error = next(v for v in versions if v["version"] == broken)["load_error"]
    assert error["reason"] == "NotServable: no verified serving artifact"
    assert error["attempts"] == 1
    assert f'api_model_load_failures_total{{model="modelo_penguins",version="{broken}"}}' in metrics


def test_listar_modelos_gives_503_when_the_registry_is_down(make_api, client):
    with make_api() as api:
        client.down = True
        response = api.get("/listar_modelos")
    assert response.status_code == 503
    assert "MLflow at" in response.json()["detail"]


def test_ready_when_the_registry_answers_and_the_default_model_is_loaded(make_api):
    with make_api() as api:
        response = api.get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "ready": True,
        "registry_reachable": True,
        "artifacts_reachable": True,
        "default_model_loaded": True,
        "threads": {
            "model-refresh": {"alive": True, "restarts": 0},
            "shadow": {"alive": True, "restarts": 0},
        },
    }


def test_not_ready_when_the_artifact_store_is_down(make_api):
    with make_api(lambda: {"registry_reachable": True, "artifacts_reachable": False}) as api:
        response = api.get("/ready")
    assert response.status_code == 503
    assert response.json()["artifacts_reachable"] is False


def test_not_ready_when_the_default_model_cannot_load(make_api, loader):
    loader.broken[("modelo_penguins", "2")] = EOFError("truncated")
    with make_api() as api:
        response = api.get("/ready")
        assert api.get("/health").json() == {"status": "ok"}
    assert response.status_code == 503
    assert response.json()["default_model_loaded"] is False


def test_metrics_label_requests_by_route_template(make_api):
    with make_api() as api:
        api.post("/predict", json=ADELIE)
        api.get("/listar_modelos")
        api.get("/no/such/path")
        metrics = api.get("/metrics").text
    assert 'endpoint="/predict",method="POST",model="modelo_penguins/2",status="200"' in metrics
    assert 'endpoint="/listar_modelos",method="GET",model="",status="200"' in metrics
    assert 'endpoint="other",method="GET",model="",status="404"' in metrics
