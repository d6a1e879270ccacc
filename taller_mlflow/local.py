"""Start real local servers as child processes: MLflow (via mlflow/start_mlflow.sh), moto S3, the API.

`make run` uses `python -m taller_mlflow.local` to run the whole job on one machine, no Docker:
SQLite for the data and MLflow's backend, a local folder for artifacts, a real MLflow server,
the real API. The tests and the benchmark start the same servers with these helpers.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
START_MLFLOW = ROOT / "mlflow" / "start_mlflow.sh"
S3_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "MLFLOW_S3_ENDPOINT_URL",
)


_handed_out: set[int] = set()


def free_port() -> int:
    """A free loopback port, never the same twice in one process."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def without_s3_credentials(env: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if env is None else env)
    for key in S3_ENV:
        env.pop(key, None)
    return env


class Server:
    """A child process with a health URL; start() waits until it answers, stop() ends its group."""

    def __init__(self, name, cmd, health_url, env=None, log_path=None, cwd=ROOT):
        self.name, self.cmd, self.health_url = name, list(cmd), health_url
        self.env = env if env is not None else dict(os.environ)
        self.log_path = Path(log_path) if log_path else None
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None

    def spawn(self) -> subprocess.Popen:
        """Start the process in its own session, logging to log_path; do not wait."""
        out = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            self.cmd,
            env=self.env,
            cwd=self.cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self.proc

    def start(self, timeout: float = 90.0) -> "Server":
        self.spawn()
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}; {self._tail()}"
                )
            try:
                if requests.get(self.health_url, timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(
            f"{self.name} not healthy at {self.health_url} in {timeout:.0f}s; {self._tail()}"
        )

    def _tail(self) -> str:
        if self.log_path and self.log_path.exists():
            return "log tail:\n" + "\n".join(
                self.log_path.read_text(errors="replace").splitlines()[-15:]
            )
        return "no log"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    @property
    def running(self) -> bool:
        return bool(self.proc) and self.proc.poll() is None


def mlflow_server(
    backend_store_uri: str,
    artifacts_destination: str,
    port: int,
    log_path=None,
    workers: int = 2,
    extra_env: dict | None = None,
) -> Server:
    env = dict(os.environ)
    env.update(
        MLFLOW_BACKEND_STORE_URI=backend_store_uri,
        MLFLOW_ARTIFACTS_DESTINATION=artifacts_destination,
        MLFLOW_HOST="127.0.0.1",
        MLFLOW_PORT=str(port),
        MLFLOW_WORKERS=str(workers),
        MLFLOW_BIN=str(Path(sys.executable).with_name("mlflow")),
    )
    env.update(extra_env or {})
    return Server(
        "mlflow", ["bash", str(START_MLFLOW)], f"http://127.0.0.1:{port}/health", env, log_path
    )


def moto_server(port: int, log_path=None) -> Server:
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    return Server(
        "s3",
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        f"http://127.0.0.1:{port}/moto-api/",
        None,
        log_path,
    )


def api_server(
    port: int, tracking_uri: str, log_path=None, workers: int = 1, extra_env=None
) -> Server:
    env = without_s3_credentials()
    # The registry too: mlflow.set_registry_uri() in this process exports MLFLOW_REGISTRY_URI.
    env.update(MLFLOW_TRACKING_URI=tracking_uri, MLFLOW_REGISTRY_URI=tracking_uri)
    env.update(API_PORT=str(port), API_WORKERS=str(workers))
    env.update(extra_env or {})
    cmd = [sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", str(port)]
    return Server("api", cmd, f"http://127.0.0.1:{port}/health", env, log_path)


# --- a throw-away tracking stack: moto S3 + a fresh PostgreSQL database + the MLflow server ------
# Used by the tests (tests/conftest.py) and the benchmark (bench/run.py).
PG_DSN = os.environ.get("TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_URL_BASE = os.environ.get("TEST_PG_URL_BASE", "postgresql+psycopg2://postgres@127.0.0.1:5432")
BUCKET = "mlflows3"
S3_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def create_pg_database(dsn: str = PG_DSN, prefix: str = "mlflow_test") -> str:
    import psycopg2

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    return name


def drop_pg_database(name: str, dsn: str = PG_DSN) -> None:
    import psycopg2

    conn = psycopg2.connect(dsn)
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
    pg_dsn: str = PG_DSN

    def s3_client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.s3_url, region_name="us-east-1", **S3_KEYS)

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


def start_stack(
    workdir: Path,
    extra_env: dict | None = None,
    pg_dsn: str = PG_DSN,
    pg_url_base: str = PG_URL_BASE,
    db_prefix: str = "mlflow_test",
) -> Stack:
    import boto3

    workdir.mkdir(parents=True, exist_ok=True)
    s3_port, mlflow_port = free_port(), free_port()
    s3 = moto_server(s3_port, workdir / "s3.log").start()
    s3_url = f"http://127.0.0.1:{s3_port}"
    boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1", **S3_KEYS).create_bucket(
        Bucket=BUCKET
    )
    pg_database = create_pg_database(pg_dsn, db_prefix)
    backend = f"{pg_url_base}/{pg_database}"
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
        drop_pg_database(pg_database, pg_dsn)
        raise
    return Stack(
        s3,
        server,
        s3_url,
        f"http://127.0.0.1:{mlflow_port}",
        pg_database,
        backend,
        workdir,
        pg_dsn,
    )
