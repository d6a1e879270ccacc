"""A throw-away tracking stack for the tests and the benchmark: moto as the S3 server, a fresh
PostgreSQL database, and the real MLflow server (mlflow/start_mlflow.sh) on both."""

import os
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from taller_mlflow.local.servers import Server, free_port, mlflow_server

PG_DSN = os.environ.get("TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_URL_BASE = os.environ.get("TEST_PG_URL_BASE", "postgresql+psycopg2://postgres@127.0.0.1:5432")
BUCKET = "mlflows3"
S3_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
REGION = "us-east-1"


def moto_server(port: int, log_path=None) -> Server:
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    return Server(
        "s3",
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        f"http://127.0.0.1:{port}/moto-api/",
        None,
        log_path,
    )


def _autocommit(dsn: str, sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(dsn)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def create_pg_database(dsn: str = PG_DSN, prefix: str = "mlflow_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _autocommit(dsn, f"CREATE DATABASE {name}")
    return name


def drop_pg_database(name: str, dsn: str = PG_DSN) -> None:
    _autocommit(dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def s3_client(endpoint_url: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url, region_name=REGION, **S3_KEYS)


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
    pg_dsn: str = PG_DSN

    def s3_client(self):
        return s3_client(self.s3_url)

    def bucket_keys(self) -> list[str]:
        pages = self.s3_client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def settings(self, data_url: str, **overrides):
        from taller_mlflow.settings import Settings

        return Settings(data_url=data_url, mlflow_tracking_uri=self.tracking_uri, **overrides)

    def restart_mlflow(self) -> None:
        self.mlflow.stop()
        self.mlflow.start()

    def close(self) -> None:
        self.mlflow.stop()
        self.s3.stop()
        drop_pg_database(self.pg_database, self.pg_dsn)


def _server_env(s3_url: str, extra_env: dict | None) -> dict[str, str]:
    return {
        "MLFLOW_S3_ENDPOINT_URL": s3_url,
        "AWS_ACCESS_KEY_ID": S3_KEYS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": S3_KEYS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": REGION,
        **(extra_env or {}),
    }


def start_stack(
    workdir: Path,
    extra_env: dict | None = None,
    pg_dsn: str = PG_DSN,
    pg_url_base: str = PG_URL_BASE,
    db_prefix: str = "mlflow_test",
) -> Stack:
    workdir.mkdir(parents=True, exist_ok=True)
    s3_port, mlflow_port = free_port(), free_port()
    s3 = moto_server(s3_port, workdir / "s3.log").start()
    s3_url = f"http://127.0.0.1:{s3_port}"
    pg_database = None
    try:  # a setup that fails half way (e.g. PostgreSQL full) leaves no server behind
        s3_client(s3_url).create_bucket(Bucket=BUCKET)
        pg_database = create_pg_database(pg_dsn, db_prefix)
        backend = f"{pg_url_base}/{pg_database}"
        server = mlflow_server(
            backend,
            f"s3://{BUCKET}",
            mlflow_port,
            workdir / "mlflow.log",
            extra_env=_server_env(s3_url, extra_env),
        )
        server.start(timeout=120)
    except BaseException:
        s3.stop()
        if pg_database is not None:
            drop_pg_database(pg_database, pg_dsn)
        raise
    tracking_uri = f"http://127.0.0.1:{mlflow_port}"
    return Stack(s3, server, s3_url, tracking_uri, pg_database, backend, workdir, pg_dsn)


def mlflow_models_serve(model_uri: str, port: int, tracking_uri: str, log_path=None) -> Server:
    """`mlflow models serve` on `model_uri`, as a user starts it (one worker, this venv)."""
    from taller_mlflow.mlflow_setup import without_s3_credentials

    env = without_s3_credentials()
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    # It runs `bash -c "exec uvicorn ..."`: uvicorn must be found even when the venv is not active.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    cmd = [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", model_uri]
    cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    return Server("mlflow-serve", cmd, f"http://127.0.0.1:{port}/ping", env, log_path)
