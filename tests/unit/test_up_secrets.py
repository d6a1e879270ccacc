"""`make up`'s secrets and MLflow's exposure (issue 19), driven as tests/unit/test_up_preflight.py
drives docker.mk: in a copy of the compose files, with a fake `docker compose` that records what
it is asked and never starts anything.

The first `make up` generates every password, token, key and webhook secret into .env (mode 0600)
and prints their names, never a value; `make up` refuses a .env that still holds .env.example's
placeholders, or a password .env.example published before; `make secrets` fills placeholders in;
MLflow published beyond loopback without auth is refused in one line.
"""

import re
import shutil
import stat
import subprocess

import pytest

from taller_mlflow.local.envfile import PLACEHOLDER
from tests.support.up_checkout import copy_up_checkout
from tests.unit.test_up_preflight import compose_model, fake_compose, make_up, spare_ports

pytestmark = pytest.mark.security
ASSIGNMENT = re.compile(r"^(\w+)=(.*)$", re.M)


@pytest.fixture
def checkout(tmp_path):
    """What `make -f docker.mk up` reads (tests/support/up_checkout.py)."""
    return copy_up_checkout(tmp_path)


def asked_docker_to_start(calls) -> list[str]:
    if not calls.exists():
        return []
    return [c for c in calls.read_text().splitlines() if c.startswith(("up", "build", "create"))]


def make_secrets(checkout) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "-f", "docker.mk", "secrets"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_up_with_env_example_copied_as_env_refuses_before_docker(checkout):
    shutil.copy(checkout / ".env.example", checkout / ".env")
    script, calls = fake_compose(checkout, compose_model(spare_ports()))
    out = make_up(checkout, script)
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.startswith("make up:")]
    assert len(lines) == 1, out.stderr
    for variable in ["MYSQL_ROOT_PASSWORD", "MLFLOW_AUTH_ADMIN_PASSWORD", "JUPYTER_TOKEN"]:
        assert variable in lines[0]
    assert "make secrets" in lines[0]  # how to fix it
    assert not calls.exists() or not calls.read_text(), "make up asked Docker for something"


def test_make_up_refuses_a_password_env_example_published_before(checkout):
    """A .env copied from the old .env.example holds its published passwords (one of them here,
    put together from pieces so that no tracked file holds it whole)."""
    shutil.copy(checkout / ".env.example", checkout / ".env")
    assert make_secrets(checkout).returncode == 0
    old = "super" + "secret"
    text = re.sub(r"^MYSQL_PASSWORD=.*$", f"MYSQL_PASSWORD={old}", (checkout / ".env").read_text(),
                  flags=re.M)  # fmt: skip
    (checkout / ".env").write_text(text)
    script, calls = fake_compose(checkout, compose_model(spare_ports()))
    out = make_up(checkout, script)
    assert out.returncode != 0
    assert "MYSQL_PASSWORD" in out.stderr and old not in out.stderr + out.stdout
    assert not asked_docker_to_start(calls)


def test_the_first_make_up_generates_every_secret_into_a_private_env_and_prints_no_value(checkout):
    script, calls = fake_compose(checkout, compose_model(spare_ports()))
    out = make_up(checkout, script)
    assert out.returncode == 0, out.stderr
    env_file = checkout / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = dict(ASSIGNMENT.findall(env_file.read_text()))
    example = dict(ASSIGNMENT.findall((checkout / ".env.example").read_text()))
    generated = [k for k, v in example.items() if PLACEHOLDER.search(v)]
    assert {"MYSQL_ROOT_PASSWORD", "MLFLOW_PROMOTER_PASSWORD", "TALLER_WEBHOOK_SECRET"} <= set(
        generated
    )
    printed = out.stdout + out.stderr
    for key in generated:
        assert not PLACEHOLDER.search(values[key]), key
        assert key in out.stdout  # named ...
    secrets = {k: values[k] for k in generated if PLACEHOLDER.fullmatch(example[k])}
    for key, secret in secrets.items():  # ... never shown
        assert len(secret) >= 32 and secret not in printed, key
    # one secret per placeholder: AWS_SECRET_ACCESS_KEY is MLFLOW_S3_SECRET_KEY, the rest differ
    assert values["AWS_SECRET_ACCESS_KEY"] == values["MLFLOW_S3_SECRET_KEY"]
    assert len(set(secrets.values())) == len(secrets) - 1
    assert f":{values['MYSQL_PASSWORD']}@" in values["DATA_URL"]
    assert f":{values['POSTGRES_PASSWORD']}@" in values["MLFLOW_BACKEND_STORE_URI"]
    assert str(env_file.resolve()) in out.stdout  # where they are
    assert "up -d --build --wait" in calls.read_text()
    # a second `make up` keeps every value
    again = make_up(checkout, script)
    assert again.returncode == 0, again.stderr
    assert dict(ASSIGNMENT.findall(env_file.read_text())) == values


def test_make_secrets_fills_placeholders_and_keeps_what_is_set(checkout):
    text = (checkout / ".env.example").read_text()
    text = text.replace("JUPYTER_TOKEN=CHANGE-ME-jupyter-token", "JUPYTER_TOKEN=mine-of-my-own")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("MLFLOW_READER_"))
    (checkout / ".env").write_text(text + "\n")
    (checkout / ".env").chmod(0o644)
    out = make_secrets(checkout)
    assert out.returncode == 0, out.stderr
    filled = dict(ASSIGNMENT.findall((checkout / ".env").read_text()))
    assert filled["JUPYTER_TOKEN"] == "mine-of-my-own"
    assert not [k for k, v in filled.items() if PLACEHOLDER.search(v)]
    assert len(filled["MLFLOW_READER_PASSWORD"]) >= 32  # a secret .env lacked: added
    assert stat.S_IMODE((checkout / ".env").stat().st_mode) == 0o600


def test_make_up_refuses_mlflow_beyond_loopback_without_auth(checkout):
    model = compose_model(spare_ports())
    model["services"]["mlflow"]["ports"][0]["host_ip"] = "0.0.0.0"  # CLASSROOM_BIND=0.0.0.0
    model["services"]["mlflow"]["environment"] = {"MLFLOW_AUTH": "false"}
    script, calls = fake_compose(checkout, model)
    out = make_up(checkout, script)
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.startswith("make up:")]
    assert len(lines) == 1 and "without authentication" in lines[0], out.stderr
    assert "MLFLOW_AUTH=true" in lines[0]
    assert not asked_docker_to_start(calls)
    # with auth on, the classroom setting goes ahead
    model["services"]["mlflow"]["environment"] = {"MLFLOW_AUTH": "true"}
    script, _ = fake_compose(checkout, model)
    assert make_up(checkout, script).returncode == 0
