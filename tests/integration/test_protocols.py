"""The standard protocols against real clients: the real `mlflow models serve` on the same
registered version (MLflow's scoring protocol, every format), and Triton's `tritonclient[http]`
(Open Inference Protocol V2, binary and JSON tensors), on every penguin the API can be asked about.
"""

import io

import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton

from taller_mlflow.local.servers import api_server, free_port
from taller_mlflow.penguins import FEATURES, read_csv
from taller_mlflow.promotion.onnx_export import verification_rows
from taller_mlflow.training.trainer import train
from tests.support import wait_for
from tests.support.services import mlflow_models_serve, start_stack

pytestmark = pytest.mark.services

MODEL = "modelo_penguins"
ROWS = verification_rows()  # the 333 complete penguins, and the 9 without sex as MALE and FEMALE


@pytest.fixture(scope="module")
def servers(tmp_path_factory, penguins_mysql_url):
    workdir = tmp_path_factory.mktemp("protocols")
    stack = start_stack(workdir)
    result = train(stack.settings(penguins_mysql_url, quick_grid=True), say=lambda _: None)
    port, serve_port = free_port(), free_port()
    api = api_server(port, stack.tracking_uri, workdir / "api.log").start(timeout=120)
    uri = f"models:/{MODEL}/{result.model_version}"
    serve = mlflow_models_serve(uri, serve_port, stack.tracking_uri, workdir / "serve.log")
    serve.start(timeout=300)
    ours = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    theirs = httpx.Client(base_url=f"http://127.0.0.1:{serve_port}", timeout=60)
    ready = wait_for(lambda: ours.get("/v2/health/ready").status_code == 200, 60)
    assert ready, ours.get("/ready").text
    yield ours, theirs, port, result
    ours.close()
    theirs.close()
    serve.stop()
    api.stop()
    stack.close()


def frame() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=FEATURES)


def csv_text() -> str:
    out = io.StringIO()
    frame().to_csv(out, index=False)
    return out.getvalue()


BODIES = {
    "dataframe_split": lambda: {"dataframe_split": frame().to_dict(orient="split", index=False)},
    "dataframe_records": lambda: {"dataframe_records": frame().to_dict(orient="records")},
    "instances": lambda: {"instances": frame().to_dict(orient="records")},
    "inputs": lambda: {"inputs": frame().to_dict(orient="list")},
}


@pytest.mark.parametrize("name", BODIES)
def test_invocations_equals_mlflow_models_serve_row_by_row(servers, name):
    ours, theirs, _, _ = servers
    body = BODIES[name]()
    expected = theirs.post("/invocations", json=body)
    got = ours.post("/invocations", json=body)
    assert expected.status_code == got.status_code == 200, (expected.text[:300], got.text[:300])
    assert len(got.json()["predictions"]) == len(ROWS) == 351
    assert got.json()["predictions"] == expected.json()["predictions"]


def test_invocations_csv_equals_mlflow_models_serve_row_by_row(servers):
    ours, theirs, _, _ = servers
    headers = {"Content-Type": "text/csv"}
    expected = theirs.post("/invocations", content=csv_text(), headers=headers).json()
    got = ours.post("/invocations", content=csv_text(), headers=headers).json()
    assert got["predictions"] == expected["predictions"]
    assert len(got["predictions"]) == 351


def test_the_penguins_without_measurements_are_refused_naming_the_column(servers):
    """The 2 of the 344 penguins with no measurements: refused as /predict refuses them, with
    the column and the row."""
    ours, _, _, _ = servers
    raw = read_csv()
    empty = raw[raw["culmen_length_mm"].isna()]
    assert len(empty) == 2
    records = [
        {k: None if pd.isna(v) else v for k, v in {**r, "sex": "MALE"}.items()}
        for r in empty[FEATURES].to_dict(orient="records")
    ]
    response = ours.post("/invocations", json={"dataframe_records": ROWS[:5] + records})
    assert response.status_code == 400
    assert response.json()["message"].startswith("column 'culmen_length_mm', row 5")


def test_a_missing_column_gets_the_same_status_and_error_code_as_mlflow(servers):
    ours, theirs, _, _ = servers
    body = {"dataframe_records": [{"island": "Biscoe"}]}
    for server in (ours, theirs):
        answer = server.post("/invocations", json=body)
        assert answer.status_code == 400
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def predict_labels(ours) -> list[str]:
    answers = ours.post("/predict", json=[{**r, "model": MODEL} for r in ROWS[:1000]]).json()
    return [a["prediction"] for a in answers]


def triton_inputs(binary: bool) -> list:
    rows = frame()
    inputs = []
    for c in FEATURES:
        text = c in ("island", "sex")
        values = rows[c].to_numpy(dtype=object if text else np.float64).reshape(-1, 1)
        tensor = triton.InferInput(c, list(values.shape), "BYTES" if text else "FP64")
        tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    return inputs


@pytest.mark.parametrize("binary", [True, False], ids=["binary-tensors", "json-tensors"])
def test_tritonclient_infers_every_penguin_like_predict(servers, binary):
    ours, _, port, result = servers
    client = triton.InferenceServerClient(url=f"127.0.0.1:{port}")
    outputs = [
        triton.InferRequestedOutput(n, binary_data=binary) for n in ("label", "probabilities")
    ]
    answer = client.infer(MODEL, triton_inputs(binary), outputs=outputs)
    labels = [v.decode() if isinstance(v, bytes) else v for v in answer.as_numpy("label")]
    assert labels == predict_labels(ours)
    assert answer.as_numpy("probabilities").shape == (351, 3)
    assert answer.get_response()["model_version"] == result.model_version


def test_tritonclient_health_metadata_and_alias_as_version(servers):
    _, _, port, result = servers
    client = triton.InferenceServerClient(url=f"127.0.0.1:{port}")
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    meta = client.get_model_metadata(MODEL)
    assert meta["versions"] == [result.model_version]
    assert [i["name"] for i in meta["inputs"]] == FEATURES
    assert client.is_model_ready(MODEL, model_version="production")
    assert client.is_model_ready(MODEL, model_version=result.model_version)
    answer = client.infer(MODEL, triton_inputs(True), model_version="production")
    assert answer.get_response()["model_version"] == result.model_version
