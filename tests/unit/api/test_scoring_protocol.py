"""MLflow's scoring protocol in process: every body format, model choice, errors in MLflow's shape."""

import pytest
from fastapi.testclient import TestClient

from app.factory import create_app
from taller_mlflow.penguins import FEATURES
from tests.support import ADELIE, GENTOO
from tests.unit.serving_fixtures import unit_settings

CHINSTRAP = {**ADELIE, "island": "Dream"}
PENGUINS = [ADELIE, GENTOO, CHINSTRAP]
EXPECTED = ["Adelie", "Gentoo", "Chinstrap"]


@pytest.fixture
def api(make_registry):
    settings = unit_settings(protocol_max_rows=5)
    with TestClient(create_app(settings, make_registry(settings))) as http:
        yield http


def split_body(penguins=PENGUINS):
    return {
        "dataframe_split": {
            "columns": FEATURES,
            "data": [[p[c] for c in FEATURES] for p in penguins],
        }
    }


BODIES = {
    "dataframe_split": split_body(),
    "dataframe_records": {"dataframe_records": PENGUINS},
    "instances": {"instances": PENGUINS},
    "inputs-records": {"inputs": PENGUINS},
    "inputs-columns": {"inputs": {c: [p[c] for p in PENGUINS] for c in FEATURES}},
    "with-params": {**split_body(), "params": {}},
}


@pytest.mark.parametrize("name", BODIES)
def test_invocations_answers_every_json_format(api, name):
    response = api.post("/invocations", json=BODIES[name])
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": EXPECTED}


def test_invocations_answers_csv(api):
    lines = [",".join(FEATURES)] + [",".join(str(p[c]) for c in FEATURES) for p in PENGUINS]
    response = api.post(
        "/invocations", content="\n".join(lines), headers={"content-type": "text/csv"}
    )
    assert response.json() == {"predictions": EXPECTED}


def test_invocations_serves_the_default_alias_or_the_model_named_by_query_or_header(api):
    api.post("/invocations", json=split_body())
    assert 'model="modelo_penguins/2"' in api.get("/metrics").text
    by_query = api.post("/invocations?model=modelo_penguins/1", json=split_body([GENTOO]))
    by_header = api.post(
        "/invocations", json=split_body([GENTOO]), headers={"X-Model": "modelo_penguins/1"}
    )
    assert by_query.json() == by_header.json() == {"predictions": ["Gentoo"]}
    assert 'model="modelo_penguins/1"' in api.get("/metrics").text


SCHEMA = "INVALID_PARAMETER_VALUE"  # MLflow's code when input does not fit the model's schema
SPLIT = split_body()["dataframe_split"]


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            {"dataframe_split": {"columns": FEATURES, "data": [[1] * 6]}},
            SCHEMA,
            "column 'island', row 0: expected a string",
        ),
        (
            {"dataframe_records": [ADELIE, {**ADELIE, "island": "Atlantis"}]},
            SCHEMA,
            "column 'island', row 1: 'Atlantis' is not one of",
        ),
        (
            {"dataframe_records": [{**ADELIE, "body_mass_g": -3}]},
            SCHEMA,
            "column 'body_mass_g', row 0",
        ),
        (
            {"dataframe_records": [{k: v for k, v in ADELIE.items() if k != "sex"}]},
            SCHEMA,
            "column 'sex': missing",
        ),
        ({"dataframe_records": [{**ADELIE, "wings": 2}]}, SCHEMA, "column 'wings': unknown"),
        (
            {"dataframe_split": {"columns": FEATURES, "data": [[1, 2]]}},
            "BAD_REQUEST",
            "row 0 has 2 values for 6 columns",
        ),
        ({"rows": PENGUINS}, "BAD_REQUEST", "exactly one of"),
        ({"dataframe_split": SPLIT, "instances": PENGUINS}, "BAD_REQUEST", "exactly one of"),
    ],
)
def test_invocations_rejects_bad_input_with_400_in_mlflow_shape(api, body, code, message):
    response = api.post("/invocations", json=body)
    assert response.status_code == 400
    assert response.json()["error_code"] == code
    assert message in response.json()["message"]


def test_invocations_rejects_broken_json_with_400(api):
    response = api.post(
        "/invocations", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "BAD_REQUEST"


def test_invocations_rejects_other_content_types_with_415(api):
    response = api.post("/invocations", content=b"x", headers={"content-type": "text/plain"})
    assert response.status_code == 415


def test_invocations_rejects_too_many_rows_with_413(api):
    response = api.post("/invocations", json=split_body(PENGUINS * 2))
    assert response.status_code == 413
    assert response.json()["message"] == "6 rows exceed the limit of 5"


def test_invocations_unknown_model_is_404_resource_does_not_exist(api):
    response = api.post("/invocations?model=nope", json=split_body())
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_invocations_registry_down_with_nothing_cached_is_503(api, client):
    client.down = True
    response = api.post("/invocations?model=modelo_penguins/1", json=split_body())
    assert response.status_code == 503
    assert response.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"


def test_ping_and_version_answer_as_mlflow_models_serve(api):
    assert api.get("/ping").status_code == 200
    version = api.get("/version")
    assert version.status_code == 200 and version.text.count(".") == 2


def test_invocations_with_non_string_column_names_is_400_not_500(api):
    split = {"columns": [1, ["x"]], "data": [[1, 2]]}
    response = api.post("/invocations", json={"dataframe_split": split})
    assert response.status_code == 400, response.text
    assert response.json()["message"] == "dataframe_split.columns must be a list of column names"
