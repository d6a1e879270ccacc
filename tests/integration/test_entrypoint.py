"""`python -m app` with the worker count from the environment alone: two uvicorn workers serve,
and the API starts even though MLflow is unreachable (bug 6)."""

import sys

import psutil
import pytest

from taller_mlflow.local.servers import ROOT, Server, free_port, without_s3_credentials


def serving_workers(master: psutil.Process, port: int) -> list[psutil.Process]:
    """The master's child processes that hold the listening socket on `port`."""
    return [
        child
        for child in master.children(recursive=True)
        if any(
            c.status == psutil.CONN_LISTEN and c.laddr.port == port
            for c in child.net_connections("tcp")
        )
    ]


@pytest.fixture
def api_from_settings(tmp_path):
    port, nothing_there = free_port(), free_port()
    env = without_s3_credentials()
    env.update(
        TALLER_API_HOST="127.0.0.1",
        TALLER_API_PORT=str(port),
        TALLER_API_WORKERS="2",
        MLFLOW_TRACKING_URI=f"http://127.0.0.1:{nothing_there}",
        MLFLOW_REGISTRY_URI=f"http://127.0.0.1:{nothing_there}",
        PYTHONPATH=str(ROOT),  # `app` is not installed: it runs from the source tree
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    # No flags: host, port and workers must come from the settings, as in the container.
    server = Server(
        "api",
        [sys.executable, "-m", "app"],
        f"http://127.0.0.1:{port}/health",
        env,
        tmp_path / "api.log",
        cwd=tmp_path,  # no .env
    )
    server.start(timeout=120)
    yield server, port
    server.stop()


def test_python_m_app_serves_with_the_worker_count_from_the_environment(api_from_settings):
    server, port = api_from_settings
    master = psutil.Process(server.proc.pid)
    workers = serving_workers(master, port)
    assert len(workers) == 2, [w.cmdline() for w in master.children(recursive=True)]
    assert all(w.ppid() == master.pid for w in workers)
