"""The benchmark's harness: the tracking stack, the servers under test, start-up time, RSS."""

import contextlib
import os
import platform
import subprocess
import time
from pathlib import Path

import psutil
import requests

from bench import MODEL
from taller_mlflow.local.servers import Server, api_server
from tests.support.services import Stack, mlflow_models_serve, start_stack

JSON = {"Content-Type": "application/json"}
FAST_PATH = "onnxruntime"  # what /listar_modelos says once the API's fast path is verified


def tracking_stack(workdir: Path) -> tuple[Stack, str]:
    """moto S3 + a fresh PostgreSQL database + the MLflow server, and the CSV in SQLite."""
    from taller_mlflow.training.data import load_csv_into

    stack = start_stack(workdir / "stack", db_prefix="mlflow_bench")
    data_url = f"sqlite:///{workdir}/penguins.db"
    load_csv_into(data_url)
    return stack, data_url


def mlflow_serve(model_uri: str, port: int, tracking_uri: str, log_path: Path) -> Server:
    """`mlflow models serve` with its default single worker, as a user would start it."""
    return mlflow_models_serve(model_uri, port, tracking_uri, log_path)


def api(
    port: int, tracking_uri: str, log_path: Path, workers: int, extra_env: dict | None = None
) -> Server:
    server = api_server(
        port,
        tracking_uri,
        log_path,
        workers=workers,
        extra_env={"MODEL_NAME": MODEL, **(extra_env or {})},
    )
    # The flag, not only the environment: it holds whatever the settings' env names become.
    server.cmd += ["--workers", str(workers)]
    return server


def log_tail(server: Server, lines: int = 15) -> str:
    path = server.log_path
    if path and path.exists():
        return "log tail:\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "no log"


def start_timed(server: Server, url: str, body: bytes, timeout: float = 180) -> float:
    """Start the server; seconds from spawn to its first 200 on POST `url` with `body`."""
    started = time.perf_counter()
    server.spawn()
    while time.perf_counter() - started < timeout:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {log_tail(server)}")
        try:
            if requests.post(url, data=body, headers=JSON, timeout=30).status_code == 200:
                return time.perf_counter() - started
        except requests.RequestException:
            pass
        time.sleep(0.02)
    server.stop()
    raise RuntimeError(f"{server.name}: no prediction in {timeout}s: {log_tail(server)}")


def api_inference(base_url: str, version: str) -> str:
    listing = requests.get(f"{base_url}/listar_modelos", timeout=30).json()
    return next(
        v["inference"]
        for m in listing["modelos"]
        if m["name"] == MODEL
        for v in m["versions"]
        if v["version"] == version
    )


def wait_fast_path(base_url: str, version: str, timeout: float = 120) -> str:
    """The API answers with scikit-learn while it compiles the fast path: wait for it."""
    deadline = time.monotonic() + timeout
    while (inference := api_inference(base_url, version)) != FAST_PATH:
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return inference


def warm_up(url: str, body: bytes, requests_: int = 50) -> None:
    for _ in range(requests_):
        requests.post(url, data=body, headers=JSON, timeout=60).raise_for_status()


def first_answer(url: str, body: bytes):
    return requests.post(url, data=body, headers=JSON, timeout=30).json()


def tree_rss_mib(pid: int) -> tuple[float, int]:
    """RSS of a server's whole process tree (uvicorn master + workers) and how many processes."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0, 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return round(total / 2**20, 1), len(procs)


def own_rss_mib() -> float:
    return round(psutil.Process().memory_info().rss / 2**20, 1)


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
        "loadavg_at_start": loadavg(),
    }


def versions(wrk: str) -> dict:
    import fastapi
    import mlflow
    import onnxruntime
    import skl2onnx
    import sklearn
    import uvicorn

    out = subprocess.run([wrk, "--version"], capture_output=True, text=True)
    return {
        "python": platform.python_version(),
        "mlflow": mlflow.__version__,
        "scikit-learn": sklearn.__version__,
        "onnxruntime": onnxruntime.__version__,
        "skl2onnx": skl2onnx.__version__,
        "fastapi": fastapi.__version__,
        "uvicorn": uvicorn.__version__,
        "wrk": (out.stdout + out.stderr).split("Copyright")[0].strip(),
    }
