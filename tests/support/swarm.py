"""Docker Swarm for tests/stack/test_swarm.py: the engine and images, a single-node swarm left as
it was found, deploy/swarm/stack.yaml deployed and removed under a name of its own, and a steady
load whose every outcome is kept with its time."""

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from taller_mlflow.local.servers import ROOT
from tests.support import GENTOO, wait_for

STACK_FILE = ROOT / "deploy/swarm/stack.yaml"
STORE_IMAGES = ["MYSQL_IMAGE", "POSTGRES_IMAGE", "MINIO_IMAGE", "HAPROXY_IMAGE"]
# The images the compose files build (and tests/stack/test_stack.py builds too): reused as they are.
# TRAIN_IMAGE (the monitor service's build, train/Dockerfile) runs the one-off training: the API
# image holds no MLflow or scikit-learn.
BUILT = {
    "API_IMAGE": ("api", "taller_mlflow/api:local"),
    "MLFLOW_IMAGE": ("mlflow", "taller_mlflow/mlflow-server:local"),
    "MINIO_INIT_IMAGE": ("minio-init", "taller_mlflow/minio-init:local"),
    "TRAIN_IMAGE": ("monitor", "taller_mlflow/train:local"),
}
BUILD_FILES = [
    "docker-compose-fastapi.yaml",
    "docker-compose-mlflow.yaml",
    "docker-compose-minio.yaml",
    "docker-compose-monitor.yaml",
]


def run(cmd: list[str], timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def checked(cmd: list[str], timeout: float = 120, **kw) -> str:
    out = run(cmd, timeout=timeout, **kw)
    if out.returncode != 0:
        pytest.fail(f"{' '.join(cmd[:4])} ... failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out.stdout


# --- engine and images ----------------------------------------------------------------------------


def require_engine() -> None:
    if not shutil.which("docker"):
        pytest.fail("no docker CLI on PATH: install docker.io (or Docker Engine)")
    info = run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=30)
    if info.returncode != 0:
        pytest.fail(f"no Docker engine reachable (start dockerd): {info.stderr.strip()[:300]}")
    if run(["docker", "compose", "version"], timeout=30).returncode != 0:
        pytest.fail("no `docker compose` (Compose v2), needed to build the images: install it")


def store_images() -> dict[str, str]:
    """MYSQL/POSTGRES/MINIO/HAPROXY/PYTHON_IMAGE from the environment; where some are missing and
    this runs as root, the stand-ins that ../shared/standin-images/build makes (as .ci/run does)."""
    wanted = [*STORE_IMAGES, "PYTHON_IMAGE"]
    chosen = {k: os.environ[k] for k in wanted if os.environ.get(k)}
    build = Path(os.environ.get("STANDIN_BUILD", ROOT.parent / "shared/standin-images/build"))
    if len(chosen) < len(wanted) and build.exists() and os.geteuid() == 0:
        exported = dict(re.findall(r"^export (\w+)=(\S+)$", checked([str(build)], 1800), re.M))
        chosen = {**{k: v for k, v in exported.items() if k in wanted}, **chosen}
    return chosen


def build_images(images: dict[str, str]) -> dict[str, str]:
    """The project's images, built by compose from their Dockerfiles (a no-op when up to date)."""
    env = {**os.environ, **images}
    files = [arg for name in BUILD_FILES for arg in ("-f", name)]
    services = [service for service, _ in BUILT.values()]
    cmd = ["docker", "compose", "--env-file", ".env.example", *files, "build", *services]
    checked(cmd, timeout=2400, cwd=ROOT, env=env)
    return {var: tag for var, (_, tag) in BUILT.items()}


# --- the swarm --------------------------------------------------------------------------------------


def swarm_state() -> str:
    return checked(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"]).strip()


def _has_gwbridge() -> bool:
    return bool(run(["docker", "network", "ls", "-q", "--filter", "name=^docker_gwbridge$"]).stdout)


@contextmanager
def single_node_swarm():
    """This engine as a swarm manager; a swarm this made is left at the end, with the bridge
    network `swarm init` adds, so the engine is as it was found."""
    state = swarm_state()
    if state == "active":
        yield
        return
    if state != "inactive":
        pytest.fail(f"this engine's swarm is {state!r}: neither active nor inactive")
    had_gwbridge = _has_gwbridge()
    checked(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"])
    try:
        yield
    finally:
        checked(["docker", "swarm", "leave", "--force"])
        if not had_gwbridge:
            run(["docker", "network", "rm", "docker_gwbridge"])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


@dataclass
class SwarmStack:
    name: str
    env: dict[str, str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def deploy(self) -> None:
        cmd = ["docker", "stack", "deploy", "--resolve-image", "never"]
        checked([*cmd, "-c", str(STACK_FILE), self.name], timeout=300, env=self.env)

    def service(self, name: str) -> str:
        return f"{self.name}_{name}"

    def tasks(self, service: str) -> list[dict[str, str]]:
        """The tasks swarm wants running: id, state (Running, Starting, ...), container."""
        fmt = "{{.ID}} {{.CurrentState}}"
        out = checked(
            ["docker", "service", "ps", self.service(service), "--no-trunc", "--format", fmt]
            + ["--filter", "desired-state=running"]
        )
        return [{"id": line.split()[0], "state": line.split()[1]} for line in out.splitlines()]

    def running(self, service: str) -> set[str]:
        return {t["id"] for t in self.tasks(service) if t["state"] == "Running"}

    def task_state(self, task_id: str) -> str:
        return checked(["docker", "inspect", task_id, "--format", "{{.Status.State}}"]).strip()

    def container_of(self, task_id: str) -> str:
        fmt = "{{.Status.ContainerStatus.ContainerID}}"
        return checked(["docker", "inspect", task_id, "--format", fmt]).strip()

    def one_shot_done(self, service: str) -> bool:
        out = checked(
            ["docker", "service", "ps", self.service(service), "--format", "{{.CurrentState}}"]
        )
        return any(line.startswith("Complete") for line in out.splitlines())

    def update_state(self, service: str) -> str:
        fmt = "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}"
        return checked(
            ["docker", "service", "inspect", self.service(service), "--format", fmt]
        ).strip()

    def logs(self, service: str) -> str:
        out = run(["docker", "service", "logs", "--tail", "40", self.service(service)], timeout=60)
        return (out.stdout + out.stderr)[-3000:]

    def remove(self) -> None:
        """The stack, then its network and volumes once its containers are gone."""
        run(["docker", "stack", "rm", self.name], timeout=120)
        label = f"label=com.docker.stack.namespace={self.name}"
        wait_for(lambda: not run(["docker", "ps", "-aq", "--filter", label]).stdout.strip(), 120, 1)
        wait_for(
            lambda: not run(["docker", "network", "ls", "-q", "--filter", label]).stdout.strip(),
            60,
            1,
        )
        volumes = run(["docker", "volume", "ls", "-q", "--filter", label]).stdout.split()
        if volumes:
            run(["docker", "volume", "rm", *volumes], timeout=120)


def train(stack: SwarmStack, image: str) -> subprocess.CompletedProcess:
    """The training CLI as a one-off container on the stack's network, with a read-only root as
    the Kubernetes Job has: the quick grid, as MLflow's promoter (as the Job: training registers
    its version and the gate moves @production, which the trainer may not)."""
    env = stack.env
    data_url = f"mysql+pymysql://{env['MYSQL_USER']}:{env['MYSQL_PASSWORD']}@mysql:3306/mydatabase"
    settings = {
        "DATA_URL": data_url,
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "MLFLOW_TRACKING_USERNAME": env.get("MLFLOW_PROMOTER_USERNAME") or "promoter",
        "MLFLOW_TRACKING_PASSWORD": env["MLFLOW_PROMOTER_PASSWORD"],
        "TALLER_QUICK_GRID": "true",
        "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "false",
        "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false",
    }
    flags = [arg for key, value in settings.items() for arg in ("-e", f"{key}={value}")]
    cmd = [
        "docker",
        "run",
        "--rm",
        "--name",
        f"{stack.name}_train",
        "--network",
        f"{stack.name}_net",
    ]
    cmd += ["--read-only", "--tmpfs", "/tmp", *flags, image, "python", "-m", "taller_mlflow.train"]
    return run(cmd, timeout=1200)


def predict(url: str) -> requests.Response:
    return requests.post(f"{url}/predict", json=GENTOO, timeout=30)


# --- the load ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    at: float  # time.monotonic() when the request was sent
    ok: bool
    detail: str  # the status code, or the exception's class


@dataclass
class Load:
    """`concurrency` threads, each posting one penguin after another until stop()."""

    url: str
    concurrency: int = 8
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> "Load":
        for _ in range(self.concurrency):
            thread = threading.Thread(target=self._worker, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _worker(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            at = time.monotonic()
            try:
                response = session.post(f"{self.url}/predict", json=GENTOO, timeout=30)
                outcome = Outcome(at, response.status_code == 200, str(response.status_code))
            except requests.RequestException as exc:
                outcome = Outcome(at, False, type(exc).__name__)
            with self._lock:
                self.outcomes.append(outcome)

    def summary(self, start: float = 0.0) -> dict:
        """Requests sent from `start` on: how many, how many failed and why, the error rate."""
        with self._lock:
            window = [o for o in self.outcomes if o.at >= start]
        failures: dict[str, int] = {}
        for o in window:
            if not o.ok:
                failures[o.detail] = failures.get(o.detail, 0) + 1
        failed = sum(failures.values())
        return {
            "requests": len(window),
            "failed": failed,
            "error_rate": failed / len(window) if window else 1.0,
            "failures": failures,
        }
