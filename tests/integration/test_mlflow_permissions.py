"""The stack's MLflow users, against a real server (marker `security`): start_mlflow.sh with basic
auth and its default_permission (READ) on PostgreSQL + S3, then
mlflow/init_users.py as the stack's init runs it, then the attacks of issue 19 and the path the
stack really takes (the notebook as the trainer, the promoter's registration and gate, the API as
the reader, the drift job as the monitor).

Before that issue the server ran without auth by default and no user existed: every write below
went through.
"""

import json
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import papermill
import pytest
import requests

from taller_mlflow.local.servers import ROOT, api_server, free_port, without_s3_credentials
from tests.support import ADELIE, wait_for
from tests.support.services import start_stack

pytestmark = pytest.mark.security

MODEL = "modelo_penguins"
EXPERIMENT = "mlflow_penguins_vf"
ROLES = ["trainer", "promoter", "reader", "monitor"]
INIT = ROOT / "mlflow" / "init_users.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("permissions")
    passwords = {role: secrets.token_urlsafe(16) for role in ["admin", *ROLES]}
    env = {
        "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
        "MLFLOW_AUTH_ADMIN_PASSWORD": passwords["admin"],
        "MLFLOW_AUTH_DATABASE_URI": f"sqlite:///{workdir}/basic_auth.db",
        "TMPDIR": str(workdir),
    }
    # As the stack runs it: auth on, start_mlflow.sh's default_permission (READ)
    stack = start_stack(workdir, extra_env={**env, "MLFLOW_AUTH": "true"})
    init_env = {
        **without_s3_credentials(),
        **env,
        "MLFLOW_INIT_URI": stack.tracking_uri,
        **{f"MLFLOW_{role.upper()}_PASSWORD": passwords[role] for role in ROLES},
    }
    yield stack, passwords, init_env, workdir
    stack.close()


def run_init(init_env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(INIT)], env=init_env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def users(server):
    stack, passwords, init_env, _ = server
    out = run_init(init_env)
    assert out.returncode == 0, out.stdout + out.stderr
    return {role: (role, passwords[role]) for role in ROLES} | {
        "admin": ("admin", passwords["admin"])
    }


def call(stack, method, path, auth=None, **kw) -> requests.Response:
    return requests.request(method, f"{stack.tracking_uri}{path}", auth=auth, timeout=30, **kw)


@pytest.fixture(scope="module")
def target(server, users):
    """A run (the trainer's, in the training experiment) and version 1 of the model from it,
    registered by the promoter: what the attacks aim at."""
    stack = server[0]
    exp = call(stack, "GET", "/api/2.0/mlflow/experiments/get-by-name", users["trainer"],
               params={"experiment_name": EXPERIMENT})  # fmt: skip
    assert exp.status_code == 200, exp.text
    exp_id = exp.json()["experiment"]["experiment_id"]
    run = call(stack, "POST", "/api/2.0/mlflow/runs/create", users["trainer"],
               json={"experiment_id": exp_id})  # fmt: skip
    assert run.status_code == 200, run.text
    run_id = run.json()["run"]["info"]["run_id"]
    version = call(stack, "POST", "/api/2.0/mlflow/model-versions/create", users["promoter"],
                   json={"name": MODEL, "source": f"runs:/{run_id}/model", "run_id": run_id})  # fmt: skip
    assert version.status_code == 200, version.text
    return exp_id, run_id, version.json()["model_version"]["version"]


def test_the_init_creates_the_users_and_runs_again_unchanged_printing_no_password(server, users):
    _, passwords, init_env, _ = server
    again = run_init(init_env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("grants unchanged") == len(ROLES), again.stdout
    for password in passwords.values():
        assert password not in again.stdout + again.stderr


def test_the_init_refuses_a_placeholder_password(server, users):
    _, _, init_env, _ = server
    out = run_init({**init_env, "MLFLOW_READER_PASSWORD": "CHANGE-ME-mlflow-reader"})
    assert out.returncode != 0
    assert "MLFLOW_READER_PASSWORD is the placeholder" in out.stdout + out.stderr


UNAUTHENTICATED_WRITES = {
    "register a model": ("POST", "/api/2.0/mlflow/registered-models/create", {"name": "evil"}),
    "register a version": ("POST", "/api/2.0/mlflow/model-versions/create", None),
    "move @production": ("POST", "/api/2.0/mlflow/registered-models/alias", None),
    "delete a run": ("POST", "/api/2.0/mlflow/runs/delete", None),
    "upload an artifact through the proxy": ("PUT", None, None),
}


@pytest.mark.parametrize("attack", UNAUTHENTICATED_WRITES)
def test_an_unauthenticated_write_gets_401(server, target, attack):
    stack = server[0]
    exp_id, run_id, version = target
    method, path, body = UNAUTHENTICATED_WRITES[attack]
    body = body or {
        "register a version": {"name": MODEL, "source": f"runs:/{run_id}/model", "run_id": run_id},
        "move @production": {"name": MODEL, "alias": "production", "version": version},
        "delete a run": {"run_id": run_id},
    }.get(attack)
    if path is None:
        path = f"/api/2.0/mlflow-artifacts/artifacts/{exp_id}/{run_id}/artifacts/evil.txt"
        response = call(stack, method, path, data=b"written by nobody")
    else:
        response = call(stack, method, path, json=body)
    assert response.status_code == 401, (attack, response.status_code, response.text[:200])


def set_production(stack, auth, version) -> requests.Response:
    body = {"name": MODEL, "alias": "production", "version": version}
    return call(stack, "POST", "/api/2.0/mlflow/registered-models/alias", auth, json=body)


@pytest.mark.parametrize("role", ["reader", "trainer", "monitor"])
def test_no_one_but_the_promoter_and_the_admin_moves_production(server, users, target, role):
    stack = server[0]
    response = set_production(stack, users[role], target[2])
    assert response.status_code == 403, (role, response.status_code, response.text[:200])
    alias = call(stack, "GET", "/api/2.0/mlflow/registered-models/alias", users["admin"],
                 params={"name": MODEL, "alias": "production"})  # fmt: skip
    assert "alias production not found" in alias.text, alias.text  # it was never set


def test_the_trainer_logs_runs_and_artifacts_but_cannot_register_or_delete(server, users, target):
    stack = server[0]
    exp_id, run_id, _ = target
    path = f"/api/2.0/mlflow-artifacts/artifacts/{exp_id}/{run_id}/artifacts/notes.txt"
    assert call(stack, "PUT", path, users["trainer"], data=b"mine").status_code == 200
    body = {"name": MODEL, "source": f"runs:/{run_id}/model", "run_id": run_id}
    register = call(
        stack, "POST", "/api/2.0/mlflow/model-versions/create", users["trainer"], json=body
    )
    assert register.status_code == 403, register.text
    delete = call(stack, "DELETE", "/api/2.0/mlflow/registered-models/delete", users["trainer"],
                  json={"name": MODEL})  # fmt: skip
    assert delete.status_code == 403, delete.text


@pytest.mark.parametrize("role", ["reader", "monitor"])
def test_the_reader_and_the_monitor_write_nothing_of_training(server, users, target, role):
    stack = server[0]
    exp_id, run_id, _ = target
    path = f"/api/2.0/mlflow-artifacts/artifacts/{exp_id}/{run_id}/artifacts/evil.txt"
    assert call(stack, "PUT", path, users[role], data=b"x").status_code == 403
    delete = call(
        stack, "POST", "/api/2.0/mlflow/runs/delete", users[role], json={"run_id": run_id}
    )
    assert delete.status_code == 403
    body = {"name": MODEL, "source": f"runs:/{run_id}/model", "run_id": run_id}
    register = call(stack, "POST", "/api/2.0/mlflow/model-versions/create", users[role], json=body)
    assert register.status_code == 403


@pytest.mark.parametrize("role", ROLES)
def test_only_the_admin_creates_users_and_webhooks(server, users, role):
    stack = server[0]
    body = {"username": f"by-{role}", "password": secrets.token_urlsafe(12)}
    assert (
        call(stack, "POST", "/api/2.0/mlflow/users/create", users[role], json=body).status_code
        == 403
    )
    assert call(stack, "GET", "/api/2.0/mlflow/webhooks", users[role]).status_code == 403


# --- the path the stack takes, user by user ----------------------------------------------------


def client_env(auth, **extra) -> dict[str, str]:
    env = without_s3_credentials()
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        env.pop(key, None)
    env.update(MLFLOW_TRACKING_USERNAME=auth[0], MLFLOW_TRACKING_PASSWORD=auth[1], **extra)
    return env


@pytest.fixture(scope="module")
def promoted(server, users, target, penguins_mysql_url, tmp_path_factory):
    """The notebook run as the trainer (papermill, as `make notebook` runs it in the stack), then
    taller_mlflow.local.promote_run as the promoter: (notebook text, promote_run's output)."""
    stack = server[0]
    output = tmp_path_factory.mktemp("notebook") / "out.ipynb"
    saved = dict(os.environ)
    os.environ.update(client_env(users["trainer"]))  # the kernel inherits the trainer's login
    try:
        papermill.execute_notebook(
            str(ROOT / "JupyterLab" / "mlflow_pipeline.ipynb"),
            str(output),
            parameters={
                "tracking_uri": stack.tracking_uri,
                "data_url": penguins_mysql_url,
                "quick": True,
            },  # fmt: skip
            kernel_name="python3",
            cwd=str(output.parent),
            progress_bar=False,
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    promote = subprocess.run(
        [sys.executable, "-m", "taller_mlflow.local.promote_run"],
        env=client_env(users["promoter"], MLFLOW_TRACKING_URI=stack.tracking_uri),
        capture_output=True,
        text=True,
        timeout=900,
    )
    return output.read_text(), promote


def production(stack, auth) -> dict:
    alias = call(stack, "GET", "/api/2.0/mlflow/registered-models/alias", auth,
                 params={"name": MODEL, "alias": "production"})  # fmt: skip
    assert alias.status_code == 200, alias.text
    return alias.json()["model_version"]


def test_the_trainers_notebook_logs_the_run_and_the_promoter_puts_it_live(server, users, promoted):
    stack = server[0]
    notebook, promote = promoted
    assert "trained and logged; this user may not register it" in notebook
    assert promote.returncode == 0, promote.stdout[-2000:] + promote.stderr[-3000:]
    version = production(stack, users["reader"])
    assert f"registered {MODEL} version {version['version']}" in promote.stdout
    run = call(stack, "GET", "/api/2.0/mlflow/runs/get", users["reader"],
               params={"run_id": version["run_id"]})  # fmt: skip
    assert run.json()["run"]["info"]["run_name"] == "grid_search"
    tags = {t["key"]: t["value"] for t in version.get("tags", [])}
    assert "serving.sha256" in tags and float(tags["test_accuracy"]) >= 0.9


def test_the_api_as_the_reader_serves_it_and_the_monitor_checks_it(
    server, users, promoted, tmp_path
):
    stack, _, _, workdir = server
    version = production(stack, users["reader"])["version"]
    log_url = f"sqlite:///{tmp_path / 'log.db'}"
    port = free_port()
    api = api_server(port, stack.tracking_uri, workdir / f"api{port}.log",
                     extra_env={"PREDICTION_LOG_URL": log_url, "MODEL_REFRESH_SECONDS": "1",
                                "TALLER_PREDICTION_LOG_FLUSH_SECONDS": "0.2"})  # fmt: skip
    api.env.update(client_env(users["reader"]))
    api.start(timeout=180)
    try:
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        assert wait_for(lambda: http.get("/ready").status_code == 200, 120), http.get("/ready").text
        for _ in range(3):
            answer = http.post("/predict", json=ADELIE)
            assert answer.status_code == 200 and answer.json()["version"] == version, answer.text
    finally:
        api.stop()
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    monitor = subprocess.run(
        [sys.executable, "-m", "taller_mlflow.monitor", "--once", "--since", since],
        env=client_env(
            users["monitor"],
            MLFLOW_TRACKING_URI=stack.tracking_uri,
            PREDICTION_LOG_URL=log_url,
            TALLER_MONITOR_MIN_ROWS="1",
        ),  # fmt: skip
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert monitor.returncode == 0, monitor.stdout[-2000:] + monitor.stderr[-2000:]
    got = call(stack, "GET", "/api/2.0/mlflow/model-versions/get", users["reader"],
               params={"name": MODEL, "version": version})  # fmt: skip
    tags = {t["key"]: t["value"] for t in got.json()["model_version"].get("tags", [])}
    assert tags.get("drift.run_id"), json.dumps(tags)[:500]
