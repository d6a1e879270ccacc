"""Open Inference Protocol V2 in process: health, metadata, infer in JSON and binary tensors."""

import struct

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from app.factory import create_app
from taller_mlflow.penguins import FEATURES
from tests.support import ADELIE, GENTOO
from tests.unit.serving_fixtures import unit_settings

PENGUINS = [ADELIE, GENTOO, {**ADELIE, "island": "Dream"}]


@pytest.fixture
def api(make_registry):
    settings = unit_settings()
    with TestClient(create_app(settings, make_registry(settings))) as http:
        yield http


def tensors(penguins=PENGUINS, **change):
    return [
        {
            "name": c,
            "shape": [len(penguins), 1],
            "datatype": "BYTES" if c in ("island", "sex") else "FP64",
            "data": [p[c] for p in penguins],
            **change.get(c, {}),
        }
        for c in FEATURES
    ]


def test_health_and_server_metadata(api):
    assert api.get("/v2/health/live").json() == {"live": True}
    assert api.get("/v2/health/ready").json() == {"ready": True}
    assert api.get("/v2").json()["extensions"] == ["binary_tensor_data"]


def test_model_metadata_comes_from_the_signature(api):
    meta = api.get("/v2/models/modelo_penguins").json()
    assert meta["versions"] == ["2"]
    assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [
        ("island", "BYTES"),
        ("sex", "BYTES"),
        ("culmen_length_mm", "FP64"),
        ("culmen_depth_mm", "FP64"),
        ("flipper_length_mm", "FP64"),
        ("body_mass_g", "FP64"),
    ]
    assert meta["parameters"]["classes"] == ["Adelie", "Chinstrap", "Gentoo"]


@pytest.mark.parametrize(
    ("path", "version"),
    [
        ("/v2/models/modelo_penguins", "2"),
        ("/v2/models/modelo_penguins/versions/1", "1"),
        ("/v2/models/modelo_penguins/versions/production", "2"),
        ("/v2/models/modelo_penguins@production", "2"),
    ],
)
def test_infer_json_by_name_version_or_alias(api, path, version):
    response = api.post(f"{path}/infer", json={"id": "r1", "inputs": tensors()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["model_version"]) == ("r1", version)
    label, proba = body["outputs"]
    assert label == {
        "name": "label",
        "datatype": "BYTES",
        "shape": [3],
        "data": ["Adelie", "Gentoo", "Chinstrap"],
    }
    assert proba["shape"] == [3, 3] and proba["data"][:3] == [0.9, 0.05, 0.05]
    assert api.get(f"{path}/ready").json()["ready"] is True


def test_infer_takes_flat_shapes_and_named_outputs(api):
    body = {
        "inputs": tensors(**{c: {"shape": [3]} for c in FEATURES}),
        "outputs": [{"name": "label"}],
    }
    outputs = api.post("/v2/models/modelo_penguins/infer", json=body).json()["outputs"]
    assert [o["name"] for o in outputs] == ["label"]


def binary_request(penguins=PENGUINS) -> tuple[bytes, dict]:
    inputs, blobs = [], []
    for c in FEATURES:
        if c in ("island", "sex"):
            blob = b"".join(struct.pack("<I", len(p[c])) + p[c].encode() for p in penguins)
            datatype = "BYTES"
        else:
            blob = np.asarray([p[c] for p in penguins], dtype="<f4").tobytes()
            datatype = "FP32"
        inputs.append(
            {
                "name": c,
                "shape": [len(penguins), 1],
                "datatype": datatype,
                "parameters": {"binary_data_size": len(blob)},
            }
        )
        blobs.append(blob)
    head = orjson.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}})
    return head + b"".join(blobs), {"Inference-Header-Content-Length": str(len(head))}


def test_infer_binary_tensors_in_and_out(api):
    content, headers = binary_request()
    response = api.post("/v2/models/modelo_penguins/infer", content=content, headers=headers)
    assert response.status_code == 200, response.text
    size = int(response.headers["Inference-Header-Content-Length"])
    head = orjson.loads(response.content[:size])
    label_size = head["outputs"][0]["parameters"]["binary_data_size"]
    labels_raw = response.content[size : size + label_size]
    proba = np.frombuffer(response.content[size + label_size :], dtype="<f8").reshape(3, 3)
    labels, at = [], 0
    while at < len(labels_raw):
        (n,) = struct.unpack_from("<I", labels_raw, at)
        labels.append(labels_raw[at + 4 : at + 4 + n].decode())
        at += 4 + n
    assert labels == ["Adelie", "Gentoo", "Chinstrap"]
    assert proba[0].tolist() == [0.9, 0.05, 0.05]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"inputs": tensors(island={"data": ["Biscoe", "Mars", "Dream"]})},
            400,
            "column 'island', row 1",
        ),
        ({"inputs": tensors(body_mass_g={"data": [1, 2]})}, 400, "2 values for shape [3, 1]"),
        ({"inputs": tensors(sex={"shape": [3, 2]})}, 400, "shape must be [n] or [n, 1]"),
        ({"inputs": tensors()[:5]}, 400, "column 'body_mass_g': missing"),
        (
            {"inputs": tensors(), "outputs": [{"name": "logits"}]},
            400,
            "output 'logits' is not one of",
        ),
        ({"rows": []}, 400, "list of 'inputs'"),
    ],
)
def test_infer_rejects_bad_requests_in_v2_shape(api, body, status, message):
    response = api.post("/v2/models/modelo_penguins/infer", json=body)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_infer_binary_size_past_the_body_is_400(api):
    content, headers = binary_request()
    response = api.post("/v2/models/modelo_penguins/infer", content=content[:-5], headers=headers)
    assert response.status_code == 400
    assert (
        "runs past the body" in response.json()["error"]
        or "bytes for 3" in response.json()["error"]
    )


def test_unknown_model_is_404_and_not_ready(api):
    assert api.get("/v2/models/nope/ready").status_code == 404
    response = api.post("/v2/models/nope/infer", json={"inputs": tensors()})
    assert response.status_code == 404
    assert "not found" in response.json()["error"]


def test_infer_with_half_nested_data_is_400_not_500(api):
    body = {"inputs": tensors(body_mass_g={"data": [[3750], 4000, [3800]]})}
    response = api.post("/v2/models/modelo_penguins/infer", json=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("column 'body_mass_g', row 0")
