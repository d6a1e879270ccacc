"""A real API worker that has served every protocol holds none of the training stack.

The API runs as `python -m app` against a real MLflow server (PostgreSQL, moto S3) with a version
the gate verified. Python reports every module the worker imports, at the moment it imports it,
when PYTHONPROFILEIMPORTTIME is set (`-X importtime`): that record covers the whole life of the
process, lazy imports included, and needs no hook in the API. Every protocol is exercised, then
the worker is stopped and its record is read.
"""

import re

import httpx
import numpy as np
import pytest
import tritonclient.http as triton

from taller_mlflow.penguins import FEATURES
from tests.support import ADELIE, GENTOO, wait_for
from tests.support.promotion import MODEL, log_version, registry_client, start_api
from tests.support.services import start_stack

FORBIDDEN = ("mlflow", "sklearn", "pandas", "scipy", "matplotlib", "skl2onnx", "cloudpickle")
IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|( *)(\S+)$")


def imported_modules(log_text: str) -> set[str]:
    return {m.group(2) for line in log_text.splitlines() if (m := IMPORT_LINE.match(line))}


@pytest.fixture(scope="module")
def worker_log(tmp_path_factory):
    """Serve every protocol from one worker, stop it, and hand back what it printed."""
    workdir = tmp_path_factory.mktemp("lean")
    stack = start_stack(workdir)
    api = None
    try:
        version, _ = log_version(stack)  # verified: its serving artifact is logged
        registry_client(stack).set_registered_model_alias(MODEL, "production", version)
        api, base = start_api(
            stack,
            workdir,
            PYTHONPROFILEIMPORTTIME="1",
            PREDICTION_LOG_URL=f"sqlite:///{workdir / 'log.db'}",
            TALLER_PREDICTION_LOG_FLUSH_SECONDS="0.2",
        )
        exercise_every_protocol(base, version)
        api.stop()
        text = (workdir / "api.log").read_text()
        api = None
        yield text
    finally:
        if api is not None:
            api.stop()
        stack.close()


def label_and_audit(http, request_id: str) -> None:
    """/feedback and the audit endpoint read the log and the registry: still nothing heavy."""
    label = {"request_id": request_id, "species": "Adelie"}
    stored = wait_for(lambda: http.post("/feedback", json=label).status_code == 201, 30)
    assert stored, "the answer's log row never arrived"
    audit = http.get(f"/predictions/{request_id}").json()
    assert audit["rows"][0]["label"]["species"] == "Adelie"


def exercise_every_protocol(base: str, version: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as http:
        for path in ("/health", "/ready", "/listar_modelos", "/metrics", "/ping", "/version"):
            assert http.get(path).status_code == 200, path
        answered = http.post("/predict", json=ADELIE)
        assert answered.json()["prediction"] == "Adelie"
        label_and_audit(http, answered.headers["x-request-id"])
        assert len(http.post("/predict", json=[ADELIE, GENTOO] * 50).json()) == 100
        split = {"columns": FEATURES, "data": [[ADELIE[c] for c in FEATURES]]}
        assert http.post("/invocations", json={"dataframe_split": split}).status_code == 200
        csv = ",".join(FEATURES) + "\n" + ",".join(str(GENTOO[c]) for c in FEATURES)
        answer = http.post("/invocations", content=csv, headers={"Content-Type": "text/csv"})
        assert answer.json() == {"predictions": ["Gentoo"]}
        records = {"dataframe_records": [ADELIE] * 2000}  # past the inline size: a scoring thread
        assert len(http.post("/invocations", json=records).json()["predictions"]) == 2000
        assert http.get(f"/v2/models/{MODEL}").status_code == 200
        assert http.get(f"/v2/models/{MODEL}/versions/{version}/ready").status_code == 200
        assert http.post("/webhooks/mlflow", content=b"{}").status_code in (401, 404)
    client = triton.InferenceServerClient(base.removeprefix("http://"))
    inputs = []
    for c in FEATURES:
        text = c in ("island", "sex")
        tensor = triton.InferInput(c, [1, 1], "BYTES" if text else "FP64")
        # binary_data: tritonclient's default, the binary tensor extension
        tensor.set_data_from_numpy(np.array([[ADELIE[c]]], dtype=object if text else np.float64))
        inputs.append(tensor)
    result = client.infer(MODEL, inputs, outputs=[triton.InferRequestedOutput("label")])
    assert result.as_numpy("label").tolist() == [b"Adelie"]
    client.close()


def test_the_worker_recorded_its_imports(worker_log):
    modules = imported_modules(worker_log)
    assert {"onnxruntime", "fastapi", "app.protocols.v2", "taller_mlflow.serving.dataplane"} <= (
        modules
    ), "PYTHONPROFILEIMPORTTIME produced no usable record"


@pytest.mark.parametrize("package", FORBIDDEN)
def test_a_worker_that_served_every_protocol_never_imported(worker_log, package):
    found = sorted(m for m in imported_modules(worker_log) if m.split(".")[0] == package)
    assert not found, f"the API worker imported {found[:5]}"
