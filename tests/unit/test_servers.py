"""taller_mlflow.local.servers: the child-process harness `make run` and the benchmark start servers with.

The children here are tiny Python processes, not the project's servers."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from taller_mlflow.local.servers import (
    Server,
    _group_runs,
    api_server,
    free_port,
    port_is_free,
    without_s3_credentials,
)
from tests.support import wait_for


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_start_returns_once_the_health_url_answers_and_stop_ends_the_process(tmp_path):
    port = free_port()
    cmd = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    server = Server("web", cmd, f"http://127.0.0.1:{port}/", log_path=tmp_path / "web.log")
    server.start(timeout=60)
    try:
        assert server.running
        assert not port_is_free(port)
    finally:
        server.stop()
    assert not server.running


def test_wait_healthy_names_the_exit_code_and_log_when_the_process_dies_first(tmp_path):
    code = "import sys; print('cannot bind', flush=True); sys.exit(3)"
    server = Server(
        "dies", python(code), f"http://127.0.0.1:{free_port()}/", log_path=tmp_path / "l"
    )
    with pytest.raises(RuntimeError, match=r"(?s)dies exited with 3.*cannot bind"):
        server.start(timeout=60)


def test_wait_healthy_gives_up_after_the_timeout_and_stops_the_process():
    silent = python("import time; time.sleep(120)")
    server = Server("silent", silent, f"http://127.0.0.1:{free_port()}/")
    with pytest.raises(RuntimeError, match="silent not healthy at http://127.0.0.1:"):
        server.start(timeout=1)
    assert not server.running


def test_free_port_never_hands_out_the_same_port_twice():
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(port_is_free(p) for p in ports)


def test_port_is_free_is_false_while_something_listens():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert not port_is_free(busy.getsockname()[1])


def test_without_s3_credentials_drops_only_the_s3_settings():
    env = {
        "AWS_ACCESS_KEY_ID": "a",
        "AWS_SECRET_ACCESS_KEY": "b",
        "AWS_SESSION_TOKEN": "c",
        "MLFLOW_S3_ENDPOINT_URL": "http://s3",
        "MLFLOW_TRACKING_URI": "http://mlflow",
    }
    assert without_s3_credentials(env) == {"MLFLOW_TRACKING_URI": "http://mlflow"}
    assert "AWS_ACCESS_KEY_ID" in env  # the caller's mapping is left alone


def test_api_server_runs_python_m_app_on_its_tracking_server_without_s3_keys(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-the-api")
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "http://stale-registry")
    api = api_server(8123, "http://127.0.0.1:5001", workers=2, extra_env={"X": "1"})
    assert api.cmd[1:] == ["-m", "app", "--host", "127.0.0.1", "--port", "8123", "--workers", "2"]
    assert api.health_url == "http://127.0.0.1:8123/health"
    assert (
        api.env["MLFLOW_TRACKING_URI"] == api.env["MLFLOW_REGISTRY_URI"] == "http://127.0.0.1:5001"
    )
    assert api.env["X"] == "1"
    assert "AWS_SECRET_ACCESS_KEY" not in api.env


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_group_of_zombies_is_not_alive_though_kill_0_still_reaches_it():
    proc = subprocess.Popen(["true"], start_new_session=True)
    try:
        assert wait_for(lambda: _state(proc.pid) == "Z", 10, 0.05)  # exited, not reaped yet
        os.killpg(proc.pid, 0)  # the kernel still counts it a member of its group
        assert not _group_runs(proc.pid)
    finally:
        proc.wait()


def test_a_group_with_a_running_process_is_alive():
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert _group_runs(proc.pid)
    finally:
        proc.kill()
        proc.wait()
