"""Opt-in MLflow authentication, natively: start_mlflow.sh with MLFLOW_AUTH=true on PostgreSQL + S3.

The admin comes from MLFLOW_AUTH_ADMIN_USERNAME/PASSWORD in the server's environment; the clients
(training CLI, API; the notebook uses the same MLflow client) authenticate with
MLFLOW_TRACKING_USERNAME/PASSWORD from theirs.
"""

import os
import secrets
import subprocess
import sys

import httpx
import pytest
import requests

from taller_mlflow.local.servers import api_server, free_port, without_s3_credentials
from tests.support import ADELIE, wait_for
from tests.support.services import start_stack

ADMIN = "admin"


@pytest.fixture(scope="module")
def auth(tmp_path_factory):
    try:
        import flask_wtf  # noqa: F401 - MLflow's basic-auth app imports it at start
    except ImportError:
        pytest.fail("MLflow's basic-auth app needs Flask-WTF: pip install 'mlflow[auth]'")
    workdir = tmp_path_factory.mktemp("auth")
    password = secrets.token_urlsafe(12)
    stack = start_stack(
        workdir,
        extra_env={
            "MLFLOW_AUTH": "true",
            "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN,
            "MLFLOW_AUTH_ADMIN_PASSWORD": password,
            "MLFLOW_AUTH_DATABASE_URI": f"sqlite:///{workdir}/basic_auth.db",
            "TMPDIR": str(workdir),  # where start_mlflow.sh writes the auth app's ini
        },
    )
    yield stack, password, workdir
    stack.close()


def client_env(password: str | None, **extra) -> dict[str, str]:
    env = without_s3_credentials()
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        env.pop(key, None)
    if password is not None:
        env.update(MLFLOW_TRACKING_USERNAME=ADMIN, MLFLOW_TRACKING_PASSWORD=password)
    env.update(extra)
    return env


def registered_versions(stack, password) -> list[dict]:
    response = requests.get(
        f"{stack.tracking_uri}/api/2.0/mlflow/model-versions/search",
        params={"filter": "name='modelo_penguins'"},
        auth=(ADMIN, password),
        timeout=30,
    )
    response.raise_for_status()
    return response.json().get("model_versions", [])


def test_server_runs_basic_auth_and_keeps_the_password_out_of_files(auth):
    stack, password, workdir = auth
    log = stack.mlflow.log_path.read_text(errors="replace")
    assert "basic auth" in log  # start_mlflow.sh's start line
    inis = list(workdir.glob("mlflow_basic_auth.*"))
    assert inis, "start_mlflow.sh wrote no auth ini"
    for ini in inis:
        text = ini.read_text()
        assert f"admin_username = {ADMIN}" in text and password not in text
    assert password not in log


def test_requests_without_credentials_get_401(auth):
    stack, password, _ = auth
    url = f"{stack.tracking_uri}/api/2.0/mlflow/experiments/search?max_results=1"
    assert requests.get(url, timeout=30).status_code == 401
    assert requests.get(url, auth=(ADMIN, "wrong-password"), timeout=30).status_code == 401
    for path in [
        "/api/2.0/mlflow/registered-models/search",
        "/api/2.0/mlflow-artifacts/artifacts?path=",
        "/ajax-api/2.0/mlflow/experiments/search",
    ]:
        assert requests.get(stack.tracking_uri + path, timeout=30).status_code == 401, path
    assert requests.get(url, auth=(ADMIN, password), timeout=30).status_code == 200
    assert requests.get(f"{stack.tracking_uri}/health", timeout=30).status_code == 200


def run_training_cli(stack, data_url, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "taller_mlflow.train", "--quick", "--json"]
        + ["--data-url", data_url, "--tracking-uri", stack.tracking_uri],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_training_cli_without_credentials_is_refused_and_registers_nothing(
    auth, penguins_mysql_url
):
    stack, password, _ = auth
    out = run_training_cli(stack, penguins_mysql_url, client_env(None))
    assert out.returncode != 0
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "error: mlflow:" in errors[0], out.stderr[-2000:]
    assert "401" in errors[0] or "nauthorized" in errors[0], errors[0]
    assert registered_versions(stack, password) == []


@pytest.fixture(scope="module")
def trained(auth, penguins_mysql_url):
    stack, password, _ = auth
    out = run_training_cli(stack, penguins_mysql_url, client_env(password))
    assert out.returncode == 0, out.stderr[-3000:]
    import json

    return json.loads(out.stdout.splitlines()[-1])


def test_training_cli_with_credentials_registers_and_promotes(auth, trained):
    stack, password, _ = auth
    versions = registered_versions(stack, password)
    assert [v["version"] for v in versions] == [trained["model_version"]]
    assert versions[0]["status"] == "READY"
    alias = requests.get(
        f"{stack.tracking_uri}/api/2.0/mlflow/registered-models/alias",
        params={"name": "modelo_penguins", "alias": "production"},
        auth=(ADMIN, password),
        timeout=30,
    )
    assert alias.json()["model_version"]["version"] == trained["model_version"]


def start_api(stack, workdir, password):
    port = free_port()
    env = {"MODEL_REFRESH_SECONDS": "1"}
    server = api_server(port, stack.tracking_uri, workdir / f"api{port}.log", extra_env=env)
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        server.env.pop(key, None)
    if password is not None:
        server.env.update(MLFLOW_TRACKING_USERNAME=ADMIN, MLFLOW_TRACKING_PASSWORD=password)
    server.start(timeout=120)
    return server, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)


def test_api_with_credentials_is_ready_and_predicts(auth, trained):
    stack, password, workdir = auth
    server, http = start_api(stack, workdir, password)
    try:
        assert wait_for(lambda: http.get("/ready").status_code == 200, 180), http.get("/ready").text
        response = http.post("/predict", json=ADELIE)
        assert response.status_code == 200, response.text
        assert response.json()["prediction"] == "Adelie"
        assert response.json()["version"] == trained["model_version"]
        listing = http.get("/listar_modelos")
        assert (
            listing.status_code == 200
            and "modelo_penguins" in listing.json()["modelos_disponibles"]
        )
    finally:
        http.close()
        server.stop()


def test_api_without_credentials_is_not_ready(auth, trained):
    stack, _, workdir = auth
    server, http = start_api(stack, workdir, None)
    try:
        ready = http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["registry_reachable"] is False
        assert ready.json()["default_model_loaded"] is False
        response = http.post("/predict", json=ADELIE)
        assert response.status_code == 503 and response.json()["detail"]
        assert http.get("/health").status_code == 200  # alive, just not ready
    finally:
        http.close()
        server.stop()


def test_credentials_never_reach_the_api_logs(auth, trained):
    _, password, workdir = auth
    for log in workdir.glob("api*.log"):
        assert password not in log.read_text(errors="replace"), log.name
    assert "MLFLOW_TRACKING_PASSWORD" not in os.environ
