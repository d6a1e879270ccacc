"""Run the project's servers as child processes: MLflow (mlflow/start_mlflow.sh), the API and
JupyterLab.

`make run` (taller_mlflow.local.embedded, through taller_mlflow.local.supervisor) and the benchmark start them
through these helpers; the tests' throw-away S3 server and databases live in tests/support, not in
this package.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import tenacity

from taller_mlflow.mlflow_setup import without_s3_credentials

ROOT = Path(__file__).resolve().parents[2]  # the checkout: taller_mlflow/local/servers.py
START_MLFLOW = ROOT / "mlflow" / "start_mlflow.sh"
HEALTH_POLL_SECONDS = 0.3
NOTEBOOK = "JupyterLab/mlflow_pipeline.ipynb"

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


class Server:
    """A child process with a health URL; start() waits until it answers, stop() ends its group."""

    def __init__(self, name, cmd, health_url, env=None, log_path=None, cwd=ROOT):
        self.name, self.cmd, self.health_url = name, list(cmd), health_url
        self.env = env if env is not None else dict(os.environ)
        self.log_path = Path(log_path) if log_path else None
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None

    def spawn(self, preexec_fn=None) -> subprocess.Popen:
        """Start the process in its own session (its pid is its process group), logging to
        log_path; do not wait. preexec_fn runs in the child before it executes the command."""
        out = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(
                self.cmd,
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=preexec_fn,
            )
        finally:
            if out is not subprocess.DEVNULL:
                out.close()  # the child holds its own copy
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

    def signal_group(self, sig: int) -> None:
        """Send `sig` to the process group: the server and every process it started."""
        if self.proc:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def group_alive(self) -> bool:
        """True while any process of the group lives (the leader is reaped on the way)."""
        if not self.proc:
            return False
        self.proc.poll()
        try:
            os.killpg(self.proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return _group_runs(self.proc.pid)

    def kill_group(self, grace: float) -> None:
        """SIGTERM the group, SIGKILL whatever of it is left after `grace` seconds."""
        self.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.group_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.signal_group(signal.SIGKILL)
        if self.proc:
            self.proc.wait(5)


def mlflow_server(
    backend_store_uri: str,
    artifacts_destination: str,
    port: int,
    log_path=None,
    workers: int = 2,
    extra_env: dict | None = None,
) -> Server:
    """start_mlflow.sh on 127.0.0.1:`port`. Without auth unless `extra_env` turns it on: the
    script's default is auth on, and it refuses auth off only where the server is reachable beyond
    loopback, which it is not here (`make run`, the benchmark and the tests)."""
    env = dict(os.environ)
    env.update(
        MLFLOW_BACKEND_STORE_URI=backend_store_uri,
        MLFLOW_ARTIFACTS_DESTINATION=artifacts_destination,
        MLFLOW_HOST="127.0.0.1",
        MLFLOW_PORT=str(port),
        MLFLOW_WORKERS=str(workers),
        MLFLOW_BIN=str(Path(sys.executable).with_name("mlflow")),
        MLFLOW_AUTH="false",
    )
    env.pop("MLFLOW_PUBLISHED_HOST", None)
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


def jupyter_server(
    port: int, token: str, log_path=None, extra_env: dict | None = None, root_dir=ROOT
) -> Server:
    """JupyterLab on 127.0.0.1:`port`, rooted at the repository, opening on the notebook, with
    the token in the environment (not on the command line, where `ps` would show it)."""
    env = without_s3_credentials()
    env.update(JUPYTER_TOKEN=token, **(extra_env or {}))
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root_dir}",
        f"--LabApp.default_url=/lab/tree/{NOTEBOOK}",
        # Offline by design: no news feed or update check fetched from the internet.
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    if os.geteuid() == 0:
        cmd.append("--allow-root")  # Jupyter refuses root unless told; `make run` as root is fine
    return Server("jupyter", cmd, f"http://127.0.0.1:{port}/api", env, log_path)


def monitor_server(
    tracking_uri: str, log_url: str, log_path: Path | None = None, metrics_port: int = 0
) -> Server:
    """The drift job (python -m taller_mlflow.monitor) as a service for `make run`'s supervisor. No metrics port by default: there is no
    Prometheus to scrape it there, and a fixed port would collide between runs."""
    env = without_s3_credentials()
    env.update(
        MLFLOW_TRACKING_URI=tracking_uri,
        MLFLOW_REGISTRY_URI=tracking_uri,
        PREDICTION_LOG_URL=log_url,
        TALLER_MONITOR_METRICS_HOST="127.0.0.1",
        TALLER_MONITOR_METRICS_PORT=str(metrics_port),
        PYTHONUNBUFFERED="1",
    )
    cmd = [sys.executable, "-m", "taller_mlflow.monitor"]
    health = f"http://127.0.0.1:{metrics_port}/metrics" if metrics_port else None
    return Server("monitor", cmd, health, env, log_path)


def _group_runs(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs. A zombie answers kill(0) but runs nothing
    and holds no port; where PID 1 does not reap orphans (containers, CI sandboxes) a server's
    orphaned worker stays one for good, and counting it made every stop wait out the whole grace.
    Without /proc (macOS) every member counts."""
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, group = stat.rsplit(")", 1)[1].split()[:3]
        if int(group) == pgid and state not in ("Z", "X"):
            return True
    return False
