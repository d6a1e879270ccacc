"""The benchmark's harness: which cores run what, the tracking stack, the servers under test,
spawn → first prediction, CPU time and RSS of a process tree, the machine and the git commit.

The API is a black box over HTTP: `python -m app --port P --workers N`, from this checkout or
from another one (`--api-checkout`, e.g. a worktree of an older commit), configured only through
its environment. Nothing here imports tests/ or the API's code.
"""

import contextlib
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests

from bench import MODEL, say
from taller_mlflow.local.servers import Server, free_port, mlflow_server

JSON = {"Content-Type": "application/json"}
# What an MLflow server needs to deliver registry webhooks to an http:// API on loopback.
WEBHOOK_SERVER_ENV = {
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    "MLFLOW_WEBHOOK_CACHE_TTL": "1",
}
# Inherited settings that would change what is measured: the API gets only what a phase sets.
API_ENV_DROP = ("TALLER_", "PREDICTION_LOG_", "MODEL_", "AWS_", "MLFLOW_S3_", "PROMETHEUS_")


# --- cores --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cores:
    """The load generator (wrk, this process's probes) on `load`, the servers under test on
    `servers`; training and the tracking server on `all`. One core: everything shares it."""

    load: tuple[int, ...]
    servers: tuple[int, ...]
    all: tuple[int, ...]

    @classmethod
    def split(cls) -> "Cores":
        cores = tuple(sorted(os.sched_getaffinity(0)))
        if len(cores) < 2:
            return cls(cores, cores, cores)
        half = len(cores) // 2
        return cls(cores[:half], cores[half:], cores)

    def describe(self) -> dict:
        shared = self.load == self.servers
        return {
            "load_generator_cores": list(self.load),
            "server_cores": list(self.servers),
            "all_cores": list(self.all),
            "note": (
                "one core: load generator and servers share it"
                if shared
                else "wrk, the /health prober and the bench's own HTTP clients pinned to the load "
                "cores; every server under test (its whole process tree) and the in-process "
                "scikit-learn loop pinned to the server cores; the MLflow tracking server and "
                "training runs on all cores"
            ),
        }


def pin_to(cores) -> callable:
    """A preexec_fn: the child (and whatever it starts) runs on `cores`."""
    cores = set(cores)
    return lambda: os.sched_setaffinity(0, cores)


@contextlib.contextmanager
def thread_on(cores):
    """Run the calling thread on `cores` for the block (Linux: affinity is per thread)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(cores))
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


# --- the tracking stack -------------------------------------------------------------------------


class TrackingStack:
    """A real MLflow server as `make run` starts it (mlflow/start_mlflow.sh, SQLite backend,
    artifacts in a local folder proxied by the server), able to deliver webhooks to loopback,
    and the packaged CSV in SQLite as training's data source."""

    def __init__(self, workdir: Path, cores: Cores):
        from taller_mlflow.training.data import load_csv_into

        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = {**WEBHOOK_SERVER_ENV, "MLFLOW_WEBHOOK_KEY_FILE": str(workdir / "webhook.key")}
        self.server = mlflow_server(
            f"sqlite:///{workdir / 'mlflow.db'}",
            str(workdir / "artifacts"),
            port,
            workdir / "mlflow.log",
            workers=1,  # SQLite: one writer, as `make run`
            extra_env=env,
        )
        self.server.spawn(preexec_fn=pin_to(cores.all))
        self.server.wait_healthy(180)
        self.tracking_uri = f"http://127.0.0.1:{port}"
        self.data_url = f"sqlite:///{workdir / 'penguins.db'}"
        load_csv_into(self.data_url)

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(self.tracking_uri, registry_uri=self.tracking_uri)

    def close(self) -> None:
        self.server.stop()


# --- the servers under test ---------------------------------------------------------------------


def client_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(API_ENV_DROP)}


def api_server(
    checkout: Path, tracking_uri: str, workers: int, log_path: Path, env: dict | None = None
) -> Server:
    """`python -m app` from `checkout`, on a free loopback port, configured by `env` alone."""
    port = free_port()
    full = client_env()
    full.update(
        MLFLOW_TRACKING_URI=tracking_uri,
        MLFLOW_REGISTRY_URI=tracking_uri,
        MODEL_NAME=MODEL,
        PYTHONPATH=str(checkout),
    )
    full.update({k: str(v) for k, v in (env or {}).items()})
    cmd = [sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", str(workers)]
    server = Server("api", cmd, f"http://127.0.0.1:{port}/health", full, log_path, cwd=checkout)
    server.base_url = f"http://127.0.0.1:{port}"
    return server


def mlflow_serve(model_uri: str, tracking_uri: str, workers: int, log_path: Path) -> Server:
    """`mlflow models serve` as a user starts it, from this venv, with `workers` workers."""
    port = free_port()
    env = client_env()
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    # It runs `bash -c "exec uvicorn ..."`: uvicorn must be found even when the venv is not active.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    cmd = [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", model_uri]
    cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    cmd += ["--workers", str(workers)]
    server = Server("mlflow-serve", cmd, f"http://127.0.0.1:{port}/ping", env, log_path)
    server.base_url = f"http://127.0.0.1:{port}"
    return server


def start(server: Server, cores, timeout: float = 180) -> Server:
    server.spawn(preexec_fn=pin_to(cores))
    server.wait_healthy(timeout)
    return server


def log_tail(server: Server, lines: int = 20) -> str:
    path = server.log_path
    if path and path.exists():
        return "log tail:\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "no log"


def start_timed(
    server: Server, cores, url: str, body: bytes, headers=JSON, timeout: float = 180
) -> float:
    """Spawn the server on `cores`; seconds from spawn to its first 200 on POST `url`."""
    started = time.perf_counter()
    server.spawn(preexec_fn=pin_to(cores))
    while time.perf_counter() - started < timeout:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {log_tail(server)}")
        try:
            if requests.post(url, data=body, headers=headers, timeout=30).status_code == 200:
                return time.perf_counter() - started
        except requests.RequestException:
            pass
        time.sleep(0.01)
    server.stop()
    raise RuntimeError(f"{server.name}: no prediction in {timeout}s: {log_tail(server)}")


def wait_settled(base_url: str, timeout: float = 90) -> None:
    """An API that answers with scikit-learn while it verifies a faster path says so in
    /listar_modelos (`inference: scikit-learn`): wait until no version says it. An API whose
    listing has no such field is settled at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            listing = requests.get(f"{base_url}/listar_modelos", timeout=30).text
        except requests.RequestException:
            listing = ""
        if not re.search(r'"inference"\s*:\s*"scikit-learn"', listing):
            return
        time.sleep(0.5)


def warm_up(url: str, body: bytes, n: int = 50, headers=JSON) -> None:
    with requests.Session() as http:
        for _ in range(n):
            http.post(url, data=body, headers=headers, timeout=60).raise_for_status()


def answer(url: str, body: bytes, headers=JSON) -> dict:
    response = requests.post(url, data=body, headers=headers, timeout=60)
    response.raise_for_status()
    return response.json()


# --- a process tree's cost ----------------------------------------------------------------------


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss_mib(pid: int) -> tuple[float, int]:
    """RSS summed over a server's whole process tree, and how many processes it has."""
    total, procs = 0, tree(pid)
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total / 2**20, len(procs)


def tree_cpu_seconds(pid: int) -> dict[str, float]:
    """User + system CPU time of a server's process tree, split into each process's main thread
    (the event loop) and its other threads (writers, shadow scoring, refreshers, thread pools)."""
    total = {"main": 0.0, "background": 0.0}
    for p in tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            for t in p.threads():
                total["main" if t.id == p.pid else "background"] += t.user_time + t.system_time
    return total


class CpuMeter:
    """CPU time a process tree spends from this meter's creation to per_request_us(), per
    request served."""

    def __init__(self, pid: int):
        self.pid = pid
        self.before = tree_cpu_seconds(pid)

    def per_request_us(self, requests_served: int) -> dict[str, float]:
        after = tree_cpu_seconds(self.pid)
        n = max(1, requests_served)
        spent = {k: after[k] - self.before[k] for k in after}
        return {
            "cpu_us_per_request": 1e6 * (spent["main"] + spent["background"]) / n,
            "background_cpu_us_per_request": 1e6 * spent["background"] / n,
        }


# --- the machine and the code under test --------------------------------------------------------


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict:
    return {
        "cpu_model": cpu_model(),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def git_info(path: Path) -> dict:
    """The commit of the checkout at `path`, and whether tracked files differ from it."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    changed = [
        line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()
    ]
    return {
        "path": str(path),
        "commit": git("rev-parse", "HEAD") or "unknown",
        "subject": git("log", "-1", "--format=%s")[:120],
        "dirty": bool(changed),
        "changed_files": len(changed),
    }


def versions(wrk: str | None) -> dict:
    import mlflow
    import sklearn

    out = {"mlflow": mlflow.__version__, "scikit-learn": sklearn.__version__}
    if wrk and shutil.which(wrk):
        run = subprocess.run([wrk, "--version"], capture_output=True, text=True)
        out["wrk"] = (run.stdout + run.stderr).split("Copyright")[0].strip()
    return out


def stop_all(servers: list[Server]) -> None:
    for server in reversed(servers):
        try:
            server.stop()
        except Exception as exc:  # one that will not stop must not keep the others running
            say(f"could not stop {server.name}: {exc}")
