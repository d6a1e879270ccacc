"""The API over HTTP, against a real MLflow server on PostgreSQL and S3.

The fuzzer's run against this API is in tests/integration/test_faults.py."""

import math

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from sklearn.metrics import accuracy_score

from taller_mlflow.local.servers import api_server, free_port
from taller_mlflow.penguins import FEATURES
from taller_mlflow.promotion.export import export_version
from taller_mlflow.training.data import read_penguins
from taller_mlflow.training.model import split
from taller_mlflow.training.trainer import train
from tests.support import ADELIE, GENTOO, wait_for
from tests.support.services import start_stack


@pytest.fixture(scope="module")
def env(tmp_path_factory, penguins_mysql_url):
    """Two trained versions (v2 @production), a model without alias, and the API on top."""
    workdir = tmp_path_factory.mktemp("api")
    stack = start_stack(workdir)
    quiet = lambda _: None  # noqa: E731
    first = train(stack.settings(penguins_mysql_url, quick_grid=True), say=quiet)
    second = train(stack.settings(penguins_mysql_url), say=quiet)
    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    client.set_registered_model_alias("modelo_penguins", "challenger", first.model_version)
    source = client.get_model_version("modelo_penguins", first.model_version).source
    mlflow.set_tracking_uri(stack.tracking_uri)
    mlflow.set_registry_uri(stack.tracking_uri)
    sin_alias = mlflow.register_model(source, "modelo_sin_alias").version
    export_version(client, stack.tracking_uri, "modelo_sin_alias", str(sin_alias), say=quiet)
    port = free_port()
    api = api_server(
        port,
        stack.tracking_uri,
        workdir / "api.log",
        extra_env={
            "MODEL_REFRESH_SECONDS": "1",
            "TALLER_SERVED_MODELS": "modelo_penguins,modelo_sin_alias",
        },
    ).start(timeout=120)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    yield stack, api, http, first, second
    http.close()
    api.stop()
    stack.close()


def test_listing_shows_modelo_penguins_with_production_alias(env):
    stack, _, http, first, second = env
    body = http.get("/listar_modelos").json()
    assert "modelo_penguins" in body["modelos_disponibles"]
    model = next(m for m in body["modelos"] if m["name"] == "modelo_penguins")
    assert model["aliases"]["production"] == second.model_version
    versions = {v["version"]: v for v in model["versions"]}
    assert versions[second.model_version]["aliases"] == ["production"]
    assert versions[second.model_version]["stage"] == "Production"
    assert versions[second.model_version]["run_id"] == second.run_id
    assert versions[second.model_version]["test_accuracy"] == pytest.approx(second.test_accuracy)
    assert versions[first.model_version]["aliases"] == ["challenger"]
    assert versions[first.model_version]["created_at"]


def test_single_and_batch_predictions_equal_the_registered_models_predict(env, penguins_mysql_url):
    stack, _, http, _, second = env
    mlflow.set_tracking_uri(stack.tracking_uri)
    mlflow.set_registry_uri(stack.tracking_uri)
    model = mlflow.sklearn.load_model(f"models:/modelo_penguins/{second.model_version}")
    frame = read_penguins(penguins_mysql_url).frame
    rows = frame[FEATURES].head(40)
    expected = list(model.predict(rows))

    single = http.post("/predict", json=rows.iloc[0].to_dict())
    assert single.status_code == 200
    assert single.json()["prediction"] == expected[0]
    assert single.json()["version"] == second.model_version
    assert single.json()["resolved_by"] == "alias"
    assert math.isclose(sum(single.json()["probabilities"].values()), 1.0, abs_tol=1e-5)

    batch = http.post("/predict", json=rows.to_dict(orient="records"))
    assert batch.status_code == 200
    assert [p["prediction"] for p in batch.json()] == expected


def test_held_out_rows_score_at_least_95_percent(env, penguins_mysql_url):
    _, _, http, _, _ = env
    _, x_test, _, y_test = split(read_penguins(penguins_mysql_url).frame)
    response = http.post("/predict", json=x_test.to_dict(orient="records"))
    assert response.status_code == 200
    predicted = [p["prediction"] for p in response.json()]
    assert accuracy_score(y_test, predicted) >= 0.95


def test_version_and_alias_references_select_the_right_version(env):
    _, _, http, first, second = env
    by_version = http.post(
        "/predict", json={**ADELIE, "model": f"modelo_penguins/{first.model_version}"}
    )
    assert by_version.status_code == 200, by_version.text
    assert by_version.json()["version"] == first.model_version
    assert by_version.json()["resolved_by"] == "version"
    by_alias = http.post("/predict", json={**ADELIE, "model": "modelo_penguins@challenger"})
    assert by_alias.json()["version"] == first.model_version
    assert by_alias.json()["alias"] == "challenger"
    default = http.post("/predict", json=ADELIE)
    assert (default.json()["version"], default.json()["prediction"]) == (
        second.model_version,
        "Adelie",
    )
    assert http.post("/predict", json=GENTOO).json()["prediction"] == "Gentoo"


def test_model_without_production_alias_falls_back_to_latest_and_says_so(env):
    _, _, http, _, _ = env
    response = http.post("/predict", json={**ADELIE, "model": "modelo_sin_alias"})
    assert response.status_code == 200
    body = response.json()
    assert (body["model"], body["version"], body["resolved_by"]) == (
        "modelo_sin_alias",
        "1",
        "latest",
    )
    assert "no alias 'production'" in body["note"]


def test_moving_the_alias_is_served_without_restart(env):
    stack, api, http, first, second = env
    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    pid = api.proc.pid
    client.set_registered_model_alias("modelo_penguins", "production", first.model_version)
    try:
        swapped = wait_for(
            lambda: http.post("/predict", json=ADELIE).json()["version"] == first.model_version, 30
        )
        assert swapped
        assert api.proc.pid == pid and api.running
    finally:
        client.set_registered_model_alias("modelo_penguins", "production", second.model_version)
    assert wait_for(
        lambda: http.post("/predict", json=ADELIE).json()["version"] == second.model_version, 30
    )


def test_mlflow_outage_keeps_cached_predictions_and_turns_ready_false(env):
    stack, _, http, _, _ = env
    assert http.get("/ready").status_code == 200
    stack.mlflow.stop()
    try:
        for _ in range(10):
            response = http.post("/predict", json=ADELIE)
            assert response.status_code == 200
            assert response.json()["prediction"] == "Adelie"
        ready = http.get("/ready")
        assert ready.status_code == 503 and ready.json()["registry_reachable"] is False
        assert http.get("/health").status_code == 200
        unknown = http.post("/predict", json={**ADELIE, "model": "modelo_penguins/99"})
        assert unknown.status_code == 503
    finally:
        stack.mlflow.start()
    assert wait_for(lambda: http.get("/ready").status_code == 200, 30)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"island": "Mars"}, "island"),
        ({"sex": "unknown"}, "sex"),
        ({"culmen_length_mm": -3.0}, "culmen_length_mm"),
        ({"body_mass_g": 1e9}, "body_mass_g"),
        ({"flipper_length_mm": "NaN"}, "flipper_length_mm"),
        ({"culmen_depth_mm": "Infinity"}, "culmen_depth_mm"),
        ({"wingspan_mm": 300}, "wingspan_mm"),
    ],
)
def test_predict_rejects_bad_field_with_422_naming_it(env, change, field):
    _, _, http, _, _ = env
    response = http.post("/predict", json={**ADELIE, **change})
    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert any(e["field"] == field for e in response.json()["errors"])


def test_predict_rejects_missing_field_with_422(env):
    _, _, http, _, _ = env
    body = {k: v for k, v in ADELIE.items() if k != "body_mass_g"}
    response = http.post("/predict", json=body)
    assert response.status_code == 422 and "body_mass_g" in response.json()["detail"]


def test_predict_accepts_sex_in_any_case(env):
    _, _, http, _, _ = env
    assert http.post("/predict", json={**ADELIE, "sex": " female "}).status_code == 200


def test_predict_rejects_broken_json_with_400(env):
    _, _, http, _, _ = env
    response = http.post(
        "/predict", content=b'{"island": "Dream",', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and "JSON" in response.json()["detail"]


def test_predict_rejects_wrong_json_types_with_422(env):
    _, _, http, _, _ = env
    for body in ["just a string", 42, [], [1, 2], {"island": ["Dream"]}]:
        response = http.post("/predict", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"]


def test_unknown_model_or_version_gives_404_listing_models(env):
    _, _, http, _, _ = env
    for ref in ["no_such_model", "modelo_penguins/999", "modelo_penguins@nope"]:
        response = http.post("/predict", json={**ADELIE, "model": ref})
        assert response.status_code == 404, ref
        assert "modelo_penguins" in response.json()["available_models"]


def test_oversized_batch_is_refused_with_413(env):
    _, _, http, _, _ = env
    response = http.post("/predict", json=[ADELIE] * 1001)
    assert response.status_code == 413 and "1000" in response.json()["detail"]


def test_metrics_count_requests_predictions_and_load_time(env):
    _, _, http, _, second = env
    http.post("/predict", json=ADELIE)
    text = http.get("/metrics").text
    assert 'api_requests_total{endpoint="/predict"' in text
    assert (
        f'api_predictions_total{{model="modelo_penguins/{second.model_version}",species="Adelie"}}'
        in text
    )
    assert "api_model_load_seconds_count" in text
    assert 'api_request_seconds_bucket{endpoint="/predict"' in text


def test_docs_show_a_real_penguin_example(env):
    _, _, http, _, _ = env
    spec = http.get("/openapi.json").json()
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    example = body["examples"]["one penguin"]["value"]
    assert example["island"] == "Torgersen" and example["body_mass_g"] == 3750
    assert http.get("/docs").status_code == 200
