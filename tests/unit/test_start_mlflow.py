"""mlflow/start_mlflow.sh decides how the server starts before MLflow does (marker `security`):
auth on by default, loopback by default, and never open beyond loopback. Run with a stand-in for
`mlflow` (MLFLOW_BIN) that prints the command line and the auth app's settings it was given."""

import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from taller_mlflow.local.servers import START_MLFLOW

pytestmark = pytest.mark.security


@pytest.fixture
def run(tmp_path):
    fake = tmp_path / "mlflow"
    fake.write_text(
        textwrap.dedent("""\
        #!/bin/sh
        echo "ARGS $*"
        [ -n "${MLFLOW_AUTH_CONFIG_PATH:-}" ] && cat "$MLFLOW_AUTH_CONFIG_PATH"
        exit 0
        """)
    )
    fake.chmod(0o755)

    def start(**settings) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env.update(
            MLFLOW_BIN=str(fake),
            MLFLOW_BACKEND_STORE_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
            MLFLOW_PYTHON=sys.executable,  # the helpers' Python: the stand-in has none beside it
            MLFLOW_DB_UPGRADE="false",  # the upgrade's own tests below turn it on
            TMPDIR=str(tmp_path),
        )
        env.update(settings)
        return subprocess.run(
            ["bash", str(START_MLFLOW)], env=env, capture_output=True, text=True, timeout=60
        )

    return start


def test_by_default_it_serves_on_loopback_with_basic_auth(run):
    out = run(MLFLOW_AUTH_ADMIN_PASSWORD="an-admin-password-of-mine")
    assert out.returncode == 0, out.stderr
    assert "--host 127.0.0.1" in out.stdout
    assert "--app-name basic-auth" in out.stdout
    assert "default_permission = READ" in out.stdout  # writes need a grant
    assert "an-admin-password-of-mine" not in out.stdout  # MLflow reads it from the environment


def test_without_an_admin_password_or_with_the_placeholder_it_does_not_start(run):
    for password in ["", "CHANGE-ME-mlflow-admin"]:
        out = run(MLFLOW_AUTH_ADMIN_PASSWORD=password)
        assert out.returncode == 2 and "ARGS" not in out.stdout, out.stdout
        assert "MLFLOW_AUTH_ADMIN_PASSWORD" in out.stderr


def test_auth_off_is_allowed_on_loopback_only(run):
    local = run(MLFLOW_AUTH="false")
    assert local.returncode == 0 and "basic-auth" not in local.stdout, local.stderr
    for settings in [
        {"MLFLOW_HOST": "0.0.0.0"},  # the host unit on every interface
        {"MLFLOW_HOST": "0.0.0.0", "MLFLOW_PUBLISHED_HOST": "192.168.1.20"},  # a classroom
        {"MLFLOW_PUBLISHED_HOST": "0.0.0.0"},
    ]:
        out = run(MLFLOW_AUTH="false", **settings)
        assert out.returncode == 2 and "ARGS" not in out.stdout, (settings, out.stdout)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "set MLFLOW_AUTH=true" in lines[0], out.stderr
    # the container: listening on all of its interfaces, published on the host's loopback
    inside = run(MLFLOW_AUTH="false", MLFLOW_HOST="0.0.0.0", MLFLOW_PUBLISHED_HOST="127.0.0.1")
    assert inside.returncode == 0, inside.stderr


def test_before_serving_it_upgrades_a_sqlite_store_to_the_installed_mlflows_schema(run, tmp_path):
    from mlflow.store.db.utils import _get_latest_schema_revision

    out = run(MLFLOW_AUTH="false", MLFLOW_DB_UPGRADE="true")
    assert out.returncode == 0 and "ARGS server" in out.stdout, out.stderr
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == _get_latest_schema_revision()
    assert f"db_upgrade: schema at {revision}" in out.stderr
    again = run(MLFLOW_AUTH="false", MLFLOW_DB_UPGRADE="true")
    assert f"db_upgrade: schema already at {revision}" in again.stderr


def test_a_failed_upgrade_stops_the_start_with_one_line(run, tmp_path):
    out = run(
        MLFLOW_AUTH="false",
        MLFLOW_DB_UPGRADE="true",
        MLFLOW_BACKEND_STORE_URI=f"sqlite:///{tmp_path / 'no-such-folder' / 'mlflow.db'}",
    )
    assert out.returncode == 2 and "ARGS" not in out.stdout, out.stdout
    assert "start_mlflow.sh: mlflow db upgrade failed (above); not starting" in out.stderr


def test_a_store_that_is_not_a_database_is_not_upgraded(run, tmp_path):
    out = run(MLFLOW_AUTH="false", MLFLOW_DB_UPGRADE="true", MLFLOW_BACKEND_STORE_URI=str(tmp_path))
    assert out.returncode == 0 and "ARGS server" in out.stdout, out.stderr
    assert "the backend store is not a database: nothing to upgrade" in out.stderr
