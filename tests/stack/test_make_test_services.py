"""`make test` brings up the databases it needs: on a machine whose MariaDB and PostgreSQL do not
answer on the test settings' ports (here: spare ports where nothing listens), it starts them from
the project's compose files for the run and removes them afterwards; with no Docker engine it says
in one line what to install, and the tests fail rather than skip."""

import os
import subprocess
import sys

import pytest

from taller_mlflow.local.servers import ROOT, free_port
from tests.support.standins import images

pytestmark = pytest.mark.timeout(2400)

SELECTION = [
    "tests/integration/test_data_mysql.py",
    "tests/integration/test_training_failures.py",
    "-k",
    "test_init_sql_loads or test_empty_table_fails",  # MariaDB alone; MariaDB with PostgreSQL
]


def settings_on_dead_ports() -> tuple[dict, str]:
    mysql_port, pg_port = free_port(), free_port()
    project_hint = f"127.0.0.1:{mysql_port}"
    env = {
        **os.environ,
        **images(["MYSQL_IMAGE", "POSTGRES_IMAGE"]),
        "TEST_MYSQL_PORT": str(mysql_port),
        "TEST_PG_DSN": f"host=127.0.0.1 port={pg_port} user=postgres dbname=postgres",
        "TEST_PG_URL_BASE": f"postgresql+psycopg2://postgres@127.0.0.1:{pg_port}",
    }
    return env, project_hint


def compose_projects() -> set[str]:
    out = subprocess.run(
        ["docker", "ps", "-a", "--format", '{{.Label "com.docker.compose.project"}}'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return {p for p in out.stdout.split() if p.startswith("taller-test-services-")}


def test_make_test_starts_the_databases_from_compose_and_removes_them_after(tmp_path):
    env, where = settings_on_dead_ports()
    before = compose_projects()
    args = " ".join(["-p no:cacheprovider", *SELECTION[:2], "-k", f"'{SELECTION[3]}'"])
    out = subprocess.run(
        ["make", "--no-print-directory", "test", f"PYTEST_ARGS={args}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=2000,
    )
    log = out.stdout[-4000:] + out.stderr[-4000:]
    assert out.returncode == 0, log
    assert f"MariaDB/MySQL ({where}) and PostgreSQL" in out.stderr, log
    assert "starting them from the compose files" in out.stderr, log
    assert "2 passed" in out.stdout, log
    assert "stopped and removed" in out.stderr, log
    assert compose_projects() == before, "the test databases' containers were left behind"


def test_without_a_docker_engine_one_line_says_what_to_install_and_the_tests_fail():
    env, _ = settings_on_dead_ports()
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    out = subprocess.run(
        [sys.executable, "-m", "tests.support.host_services", "--", sys.executable, "-m",
         "pytest", "-p", "no:cacheprovider", *SELECTION[:1], "-k", "test_init_sql_loads"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    lines = [line for line in out.stderr.splitlines() if line.startswith("make test:")]
    assert len(lines) == 1, out.stderr
    assert "not reachable" in lines[0] and "install" in lines[0]
    assert out.returncode != 0
    assert "1 failed" in out.stdout and "skipped" not in out.stdout, out.stdout[-2000:]
