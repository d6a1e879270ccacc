"""Fixtures that start real services: MariaDB/MySQL data, PostgreSQL + S3 (moto) + MLflow server."""

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import psycopg2
import pymysql
import pytest

from taller_mlflow.local import ROOT, Server, free_port, mlflow_server, moto_server
from taller_mlflow.settings import Settings

MYSQL_HOST = os.environ.get("TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("TEST_MYSQL_USER", "root")
PG_DSN = os.environ.get("TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_URL_BASE = os.environ.get("TEST_PG_URL_BASE", "postgresql+psycopg2://postgres@127.0.0.1:5432")
BUCKET = "mlflows3"
S3_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
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
    name = f"mlflow_test_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(PG_DSN)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    return name


def drop_pg_database(name: str) -> None:
    conn = psycopg2.connect(PG_DSN)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    conn.close()


@dataclass
class Stack:
    """A real MLflow server on a fresh PostgreSQL database, with artifacts proxied to a fresh S3."""

    s3: Server
    mlflow: Server
    s3_url: str
    tracking_uri: str
    pg_database: str
    backend_store_uri: str
    workdir: Path

    def s3_client(self):
        return boto3.client("s3", endpoint_url=self.s3_url, region_name="us-east-1", **S3_KEYS)

    def bucket_keys(self) -> list[str]:
        pages = self.s3_client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def settings(self, data_url: str, **overrides) -> Settings:
        return Settings(data_url=data_url, mlflow_tracking_uri=self.tracking_uri, **overrides)

    def restart_mlflow(self) -> None:
        self.mlflow.stop()
        self.mlflow.start()

    def close(self) -> None:
        self.mlflow.stop()
        self.s3.stop()
        drop_pg_database(self.pg_database)


def start_stack(workdir: Path, extra_env: dict | None = None) -> Stack:
    workdir.mkdir(parents=True, exist_ok=True)
    s3_port, mlflow_port = free_port(), free_port()
    s3 = moto_server(s3_port, workdir / "s3.log").start()
    s3_url = f"http://127.0.0.1:{s3_port}"
    boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1", **S3_KEYS).create_bucket(
        Bucket=BUCKET
    )
    pg_database = create_pg_database()
    backend = f"{PG_URL_BASE}/{pg_database}"
    env = {
        "MLFLOW_S3_ENDPOINT_URL": s3_url,
        "AWS_ACCESS_KEY_ID": S3_KEYS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": S3_KEYS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": "us-east-1",
        **(extra_env or {}),
    }
    server = mlflow_server(
        backend, f"s3://{BUCKET}", mlflow_port, workdir / "mlflow.log", extra_env=env
    )
    try:
        server.start(timeout=120)
    except Exception:
        s3.stop()
        drop_pg_database(pg_database)
        raise
    return Stack(
        s3, server, s3_url, f"http://127.0.0.1:{mlflow_port}", pg_database, backend, workdir
    )


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
