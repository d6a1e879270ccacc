"""The serving core against a real MLflow server (PostgreSQL + S3) and the API over HTTP.

Each test reproduces a bug of an earlier serving core: a version that could not be served under
@production killed the refresh thread; listings stopped at MLflow's default page of 100 models; a
tracking URI set only in `.env` listed models but failed every load; a 200 MB chunked body was
buffered whole before the 413.
"""

import contextlib
import socket
import sys
import threading
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

from taller_mlflow.local.servers import ROOT, Server, api_server, free_port, without_s3_credentials
from taller_mlflow.training.trainer import train
from tests.support import ADELIE, GENTOO, wait_for
from tests.support.services import start_stack

pytestmark = pytest.mark.services

MODEL = "modelo_penguins"


@pytest.fixture(scope="module")
def env(tmp_path_factory, penguins_mysql_url):
    """One quick training (v1 @production) and the API on it, refreshing every second."""
    workdir = tmp_path_factory.mktemp("serving")
    stack = start_stack(workdir)
    result = train(stack.settings(penguins_mysql_url, quick_grid=True), say=lambda _: None)
    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    port = free_port()
    api = api_server(
        port,
        stack.tracking_uri,
        workdir / "api.log",
        extra_env={"MODEL_REFRESH_SECONDS": "1", "TALLER_MODEL_LOAD_RETRY_SECONDS": "2"},
    ).start(timeout=120)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    assert wait_for(lambda: http.get("/ready").status_code == 200, 60), http.get("/ready").text
    yield stack, client, api, http, result
    http.close()
    api.stop()
    stack.close()


def served(http, penguin=ADELIE) -> str:
    response = http.post("/predict", json=penguin)
    assert response.status_code == 200, response.text
    return response.json()["version"]


def register_copy(client, tracking_uri: str, version: str, workdir: Path, verify: bool) -> str:
    """A new version holding the files of `version`, registered past the gate; its serving
    artifact is logged (as the gate would) only if asked."""
    files = mlflow.artifacts.download_artifacts(
        artifact_uri=client.get_model_version_download_uri(MODEL, version),
        dst_path=str(workdir),
        tracking_uri=tracking_uri,
    )
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    with mlflow.start_run(run_name="copy") as run:
        mlflow.log_artifacts(files, "model")
    copy = str(mlflow.register_model(f"runs:/{run.info.run_id}/model", MODEL).version)
    if verify:
        from taller_mlflow.promotion.export import export_version

        export_version(client, tracking_uri, MODEL, copy, say=lambda _: None)
    return copy


def load_error(http, version: str):
    model = next(m for m in http.get("/listar_modelos").json()["modelos"] if m["name"] == MODEL)
    return next(v for v in model["versions"] if v["version"] == version)["load_error"]


def test_an_unservable_production_version_never_stops_serving_or_refreshing(env, tmp_path):
    stack, client, _, http, result = env
    good = result.model_version
    assert served(http) == good
    broken = register_copy(client, stack.tracking_uri, good, tmp_path / "broken", verify=False)
    client.set_registered_model_alias(MODEL, "production", broken)

    error = wait_for(lambda: load_error(http, broken), 30)
    assert error and error["reason"].startswith("NotServable"), error
    assert "no verified serving artifact" in error["reason"]
    assert served(http) == good
    assert served(http, GENTOO) == good
    metrics = http.get("/metrics").text
    assert f'api_model_load_failures_total{{model="{MODEL}",version="{broken}"}}' in metrics
    explicit = http.post("/predict", json={**ADELIE, "model": f"{MODEL}/{broken}"})
    assert explicit.status_code == 503
    assert f"--export {broken}" in explicit.json()["detail"]

    fixed = register_copy(client, stack.tracking_uri, good, tmp_path / "fixed", verify=True)
    client.set_registered_model_alias(MODEL, "production", fixed)
    assert wait_for(lambda: served(http) == fixed, 30), http.get("/listar_modelos").text
    listing = next(m for m in http.get("/listar_modelos").json()["modelos"] if m["name"] == MODEL)
    assert listing["serving"] == {"production": fixed}


def test_listing_pages_past_100_registered_models(env, tmp_path):
    stack, client, _, http, _ = env
    extra = [f"extra_model_{i:03d}" for i in range(120)]
    for name in extra:
        client.create_registered_model(name)
    # The default API serves one model: the others are not listed (nor answered for).
    assert http.get("/listar_modelos").json()["modelos_disponibles"] == [MODEL]
    port = free_port()
    served_all = ",".join([MODEL, *extra])
    api = api_server(
        port,
        stack.tracking_uri,
        tmp_path / "api.log",
        extra_env={"TALLER_SERVED_MODELS": served_all},
    ).start(timeout=120)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as all_http:
            names = all_http.get("/listar_modelos").json()["modelos_disponibles"]
    finally:
        api.stop()
    assert len(names) == 121
    assert set(extra) | {MODEL} == set(names)


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for {pid}")


def post_chunked(port: int, total: int, chunk: int = 1 << 20) -> bytes:
    """POST /predict with a chunked body of `total` bytes, as a client that stops sending once
    an answer has come (an early 413) or the server stops reading; returns the raw answer."""
    answer = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:

        def read_answer():
            with contextlib.suppress(OSError):
                while data := sock.recv(65536):
                    answer.extend(data)
                    if b"\r\n\r\n" in answer:
                        return

        reader = threading.Thread(target=read_answer, daemon=True)
        reader.start()
        piece = b"%x\r\n%s\r\n" % (chunk, b" " * chunk)
        with contextlib.suppress(OSError):  # reset, broken pipe or a send that timed out
            sock.sendall(
                b"POST /predict HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            for _ in range(total // chunk):
                if not reader.is_alive():
                    break
                sock.sendall(piece)
            sock.sendall(b"0\r\n\r\n")
        reader.join(30)
    return bytes(answer)


def test_a_200_mb_chunked_body_gets_413_without_growing_the_worker(env):
    _, _, api, http, _ = env
    port = int(str(http.base_url).rsplit(":", 1)[1].strip("/"))
    before = vm_hwm_kib(api.proc.pid)
    answer = post_chunked(port, 200 * 1024 * 1024)
    grown_mib = (vm_hwm_kib(api.proc.pid) - before) / 1024
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert grown_mib < 20, f"peak RSS grew by {grown_mib:.1f} MiB"
    assert served(http)  # the worker still answers


def test_a_tracking_uri_set_only_in_dot_env_is_used_for_loading(env, tmp_path):
    stack, _, _, _, result = env
    (tmp_path / ".env").write_text(f"MLFLOW_TRACKING_URI={stack.tracking_uri}\n")
    environ = without_s3_credentials()
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        environ.pop(name, None)
    environ["PYTHONPATH"] = str(ROOT)
    port = free_port()
    api = Server(
        "api-dotenv",
        [sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", str(port)],
        f"http://127.0.0.1:{port}/health",
        environ,
        tmp_path / "api.log",
        cwd=tmp_path,
    ).start(timeout=120)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            response = http.post("/predict", json={**ADELIE, "model": f"{MODEL}/1"})
            assert response.status_code == 200, response.text
            assert response.json()["prediction"] == "Adelie"
            assert wait_for(lambda: http.get("/ready").status_code == 200, 30)
    finally:
        api.stop()
