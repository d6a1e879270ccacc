"""The training CLI fails with one clear line, and registers nothing, when a source is broken."""

import subprocess
import sys

from mlflow import MlflowClient

from taller_mlflow.local.servers import free_port


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "taller_mlflow.train", "--quick", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def registered_versions(tracking_uri: str) -> int:
    return len(
        MlflowClient(tracking_uri, registry_uri=tracking_uri).search_model_versions(
            "name='modelo_penguins'"
        )
    )


def assert_one_line_error(out: subprocess.CompletedProcess, *needles: str) -> None:
    assert out.returncode != 0
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    for needle in needles:
        assert needle in errors[0]


def test_unreachable_data_url_fails_cleanly_and_registers_nothing(stack):
    port = free_port()
    out = run_cli(
        "--data-url",
        f"mysql+pymysql://root@127.0.0.1:{port}/mydatabase",
        "--tracking-uri",
        stack.tracking_uri,
    )
    assert_one_line_error(out, "error: data:", f"127.0.0.1:{port}")
    assert registered_versions(stack.tracking_uri) == 0


def test_empty_table_fails_cleanly_and_registers_nothing(stack, empty_mysql_url):
    out = run_cli("--data-url", empty_mysql_url, "--tracking-uri", stack.tracking_uri)
    assert_one_line_error(out, "error: data:", "is empty")
    assert registered_versions(stack.tracking_uri) == 0


def test_mlflow_down_fails_cleanly_and_registers_nothing(stack, penguins_mysql_url):
    stack.mlflow.stop()
    out = run_cli("--data-url", penguins_mysql_url, "--tracking-uri", stack.tracking_uri)
    assert_one_line_error(out, "error: mlflow:", stack.tracking_uri)
    stack.mlflow.start()
    assert registered_versions(stack.tracking_uri) == 0
