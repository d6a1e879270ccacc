"""POST /predict in process: the seed contract, model selection, and the 4xx/503 mapping."""

import pytest
from fastapi.testclient import TestClient

from app.factory import create_app
from taller_mlflow.serving.artifacts import NotServable
from tests.support import ADELIE, GENTOO
from tests.unit.serving_fixtures import unit_settings

CHINSTRAP = {**ADELIE, "island": "Dream"}


@pytest.fixture
def api(make_registry):
    settings = unit_settings()
    with TestClient(create_app(settings, make_registry(settings))) as http:
        yield http


def test_predict_answers_the_workshop_contract(api):
    body = api.post("/predict", json={**ADELIE, "model": "modelo_penguins"}).json()
    assert body["prediction"] == "Adelie"
    assert (body["model"], body["version"], body["resolved_by"], body["alias"]) == (
        "modelo_penguins",
        "2",
        "alias",
        "production",
    )
    assert body["probabilities"] == {"Adelie": 0.9, "Chinstrap": 0.05, "Gentoo": 0.05}


def test_predict_batch_keeps_order(api):
    answers = api.post("/predict", json=[GENTOO, ADELIE, CHINSTRAP]).json()
    assert [a["prediction"] for a in answers] == ["Gentoo", "Adelie", "Chinstrap"]


def test_a_batch_that_mixes_models_uses_each_model_in_order(api):
    batch = [
        {**ADELIE, "model": "modelo_penguins/1"},
        GENTOO,
        {**CHINSTRAP, "model": "modelo_penguins@production"},
        {**GENTOO, "model": "modelo_penguins/1"},
    ]
    answers = api.post("/predict", json=batch).json()
    assert [(a["prediction"], a["version"], a["resolved_by"]) for a in answers] == [
        ("Adelie", "1", "version"),
        ("Gentoo", "2", "alias"),
        ("Chinstrap", "2", "alias"),
        ("Gentoo", "1", "version"),
    ]


def test_a_model_without_the_default_alias_falls_back_to_its_latest_version(client, make_registry):
    client.add_version("sin_alias")
    client.add_version("sin_alias")
    settings = unit_settings(served_models="modelo_penguins,sin_alias")
    with TestClient(create_app(settings, make_registry(settings))) as api:
        body = api.post("/predict", json={**ADELIE, "model": "sin_alias"}).json()
    assert (body["version"], body["resolved_by"], body["alias"]) == ("2", "latest", None)
    assert body["note"] == "model sin_alias has no alias 'production': serving its latest version"


@pytest.mark.parametrize("model", ["nope", "modelo_penguins/9", "modelo_penguins@champion"])
def test_predict_unknown_model_gives_404_with_available_models(api, model):
    response = api.post("/predict", json={**ADELIE, "model": model})
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]
    assert response.json()["available_models"] == ["modelo_penguins"]


def test_a_registered_model_not_served_is_404_naming_the_served_ones_with_no_registry_call(
    api, client
):
    client.add_version("otro_modelo")
    client.calls.clear()
    response = api.post("/predict", json={**ADELIE, "model": "otro_modelo/1"})
    assert response.status_code == 404
    assert response.json()["detail"] == (
        "model otro_modelo not found: this API serves modelo_penguins"
    )
    assert sum(client.calls.values()) == 0


def test_registry_down_with_nothing_cached_gives_503(api, client):
    client.down = True
    response = api.post("/predict", json={**ADELIE, "model": "modelo_penguins/1"})
    assert response.status_code == 503
    assert response.json()["detail"].startswith("model registry unavailable")


def test_registry_down_keeps_serving_the_cached_default(api, client):
    assert api.post("/predict", json=ADELIE).status_code == 200
    client.down = True
    response = api.post("/predict", json=GENTOO)
    assert response.status_code == 200
    assert response.json()["prediction"] == "Gentoo"


def test_a_version_that_cannot_be_loaded_gives_503_naming_why_never_500(api, client, loader):
    broken = client.add_version("modelo_penguins")
    loader.broken[("modelo_penguins", broken)] = NotServable("no verified serving artifact")
    for _ in range(2):  # the second answer comes from the recorded failure
        response = api.post("/predict", json={**ADELIE, "model": f"modelo_penguins/{broken}"})
        assert response.status_code == 503
        assert "NotServable: no verified serving artifact" in response.json()["detail"]
        assert int(response.headers["Retry-After"]) >= 1
    assert loader.calls[("modelo_penguins", broken)] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"island": "Atlantis"}, "island"),
        ({"sex": "X"}, "sex"),
        ({"body_mass_g": -1}, "body_mass_g"),
        ({"culmen_length_mm": "NaN"}, "culmen_length_mm"),
        ({"flipper_length_mm": 1e9}, "flipper_length_mm"),
        ({"wings": 2}, "wings"),
        ({"model": "a'b"}, "model"),
    ],
)
def test_predict_rejects_a_bad_field_with_422_naming_it(api, change, field):
    response = api.post("/predict", json={**ADELIE, **change})
    assert response.status_code == 422
    assert response.json()["detail"].startswith(field)


def test_predict_rejects_unknown_island_with_422(api):
    response = api.post("/predict", json={**ADELIE, "island": "Atlantis"})
    assert response.status_code == 422
    assert "Biscoe" in response.json()["detail"]
