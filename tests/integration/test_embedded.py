"""`make run`'s job: SQLite data, a real MLflow server, training and the API, on spare ports."""

import subprocess
import sys

from taller_mlflow.local.servers import free_port


def run_embedded(workdir) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "taller_mlflow.local", "--quick", "--no-wait", "--no-jupyter",
         "--workdir", str(workdir), "--mlflow-port", str(free_port()), "--api-port", str(free_port())],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_embedded_run_trains_serves_and_adds_a_version_when_run_again(tmp_path):
    first = run_embedded(tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for step in ["[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5] ready", "curl -X POST"]:
        assert step in first.stdout
    assert "check: Adelie from modelo_penguins version 1" in first.stdout
    assert (tmp_path / "mlflow.db").exists() and (tmp_path / "penguins.db").exists()
    assert any((tmp_path / "artifacts").rglob("MLmodel"))
    assert "stopped MLflow and the API" in first.stdout

    second = run_embedded(tmp_path)
    assert second.returncode == 0, second.stdout[-3000:]
    assert "check: Adelie from modelo_penguins version 2" in second.stdout


def test_embedded_run_refuses_a_busy_port(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "taller_mlflow.local", "--no-wait", "--workdir", str(tmp_path),
             "--mlflow-port", str(port), "--api-port", str(free_port())],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert out.returncode == 1
    assert f"port {port} is already in use" in out.stdout
