"""Fixtures that start real services: MariaDB/MySQL data, PostgreSQL + S3 (moto) + MLflow server."""

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pymysql
import pytest

from taller_mlflow import local
from taller_mlflow.local import BUCKET, ROOT, S3_KEYS, Stack  # noqa: F401 - re-exported to tests

MYSQL_HOST = os.environ.get("TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("TEST_MYSQL_USER", "root")
PG_DSN = os.environ.get("TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_URL_BASE = os.environ.get("TEST_PG_URL_BASE", "postgresql+psycopg2://postgres@127.0.0.1:5432")
INIT_SQL = ROOT / "mysql-init" / "init.sql"


def mysql_client() -> str:
    client = shutil.which("mariadb") or shutil.which("mysql")
    if not client:
        pytest.fail("no mysql/mariadb client on PATH (.ci/run installs mariadb-client)")
    return client


def run_sql_file(path: Path, database: str | None = None) -> None:
    cmd = [mysql_client(), "-h", MYSQL_HOST, "-P", str(MYSQL_PORT), "-u", MYSQL_USER]
    if database:
        cmd.append(database)
    with path.open("rb") as fh:
        subprocess.run(cmd, stdin=fh, check=True, capture_output=True, timeout=60)


def mysql_connect(database: str | None = None):
    return pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, database=database, autocommit=True
    )


def mysql_url(database: str) -> str:
    return f"mysql+pymysql://{MYSQL_USER}@{MYSQL_HOST}:{MYSQL_PORT}/{database}"


@pytest.fixture(scope="session")
def penguins_mysql_url() -> str:
    """A fresh `mydatabase` loaded by init.sql through the command-line client."""
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS mydatabase")
    run_sql_file(INIT_SQL)
    return mysql_url("mydatabase")


@pytest.fixture
def empty_mysql_url():
    name = f"empty_{uuid.uuid4().hex[:8]}"
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
        cur.execute(
            f"CREATE TABLE {name}.penguins (id INT PRIMARY KEY, species VARCHAR(16), island VARCHAR(16),"
            " culmen_length_mm DOUBLE, culmen_depth_mm DOUBLE, flipper_length_mm DOUBLE,"
            " body_mass_g DOUBLE, sex VARCHAR(8))"
        )
    yield mysql_url(name)
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {name}")


def create_pg_database() -> str:
    return local.create_pg_database(PG_DSN)


def drop_pg_database(name: str) -> None:
    local.drop_pg_database(name, PG_DSN)


def start_stack(workdir: Path, extra_env: dict | None = None) -> Stack:
    """moto S3 + a fresh PostgreSQL database + MLflow server (taller_mlflow.local.start_stack)."""
    return local.start_stack(workdir, extra_env, pg_dsn=PG_DSN, pg_url_base=PG_URL_BASE)


@pytest.fixture(autouse=True, scope="session")
def _clients_hold_no_s3_credentials():
    """Tests act as clients: they must work with no S3 keys, as the notebook and API do."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
    saved.update({k: os.environ.pop(k) for k in ["MLFLOW_S3_ENDPOINT_URL"] if k in os.environ})
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    yield
    os.environ.update(saved)


@pytest.fixture
def stack(tmp_path):
    s = start_stack(tmp_path / "stack")
    yield s
    s.close()


MLFLOW_PROCESS_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_RUN_ID",
)
_BASELINE_ENV = {k: os.environ.get(k) for k in MLFLOW_PROCESS_ENV}


def _reset_mlflow_env() -> None:
    for key, value in _BASELINE_ENV.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def _no_mlflow_uri_leaks_between_tests():
    """mlflow.set_tracking_uri()/set_registry_uri() export env vars that child processes inherit;
    no test, nor a subprocess it starts, may talk to an earlier test's (stopped) server."""
    _reset_mlflow_env()
    yield
    _reset_mlflow_env()
