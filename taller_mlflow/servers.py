"""Run the project's servers as child processes: MLflow (mlflow/start_mlflow.sh) and the API.

`make run` (taller_mlflow.embedded) and the benchmark start them through these helpers; the tests'
throw-away S3 server and databases live in tests/support, not in this package.
"""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests
import tenacity

ROOT = Path(__file__).resolve().parent.parent
START_MLFLOW = ROOT / "mlflow" / "start_mlflow.sh"
S3_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "MLFLOW_S3_ENDPOINT_URL",
)
HEALTH_POLL_SECONDS = 0.3

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
        """Return once the health URL answers; raise RuntimeError if the process exits first or
        `timeout` seconds pass (then the process is stopped)."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_delay(timeout),
            wait=tenacity.wait_fixed(HEALTH_POLL_SECONDS),
            retry=tenacity.retry_if_result(lambda healthy: not healthy),
        )
        try:
            retrying(self._healthy)
        except tenacity.RetryError:
            self.stop()
            raise RuntimeError(
                f"{self.name} not healthy at {self.health_url} in {timeout:.0f}s; {self._tail()}"
            ) from None

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; {self._tail()}")
        try:
            return requests.get(self.health_url, timeout=2).ok
        except requests.RequestException:
            return False

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


def api_server(
    port: int, tracking_uri: str, log_path=None, workers: int = 1, extra_env=None
) -> Server:
    env = without_s3_credentials()
    # The registry too: mlflow.set_registry_uri() in this process exports MLFLOW_REGISTRY_URI.
    env.update(MLFLOW_TRACKING_URI=tracking_uri, MLFLOW_REGISTRY_URI=tracking_uri)
    env.update(extra_env or {})
    cmd = [sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", str(workers)]  # flags win over any TALLER_API_* in the environment
    return Server("api", cmd, f"http://127.0.0.1:{port}/health", env, log_path)
