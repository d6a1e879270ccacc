"""A flush you can trust: a running API (`python -m app`, 1 and 2 workers) answers N predictions,
gets SIGTERM (as Kubernetes, Swarm and systemd stop it: the signal goes to the main process), and
exits with exactly N rows in its prediction log. The log is set never to write on its own during
the test (a 10-minute flush interval, batches larger than the test sends), so every row is one the
shutdown wrote. How long each shutdown took goes to test-artifacts/shutdown.txt: the grace
periods (make run's supervisor, Kubernetes, Swarm) are set from it."""

import signal
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from taller_mlflow.local.servers import api_server, free_port
from tests.support import ADELIE, GENTOO
from tests.support.promotion import MODEL, log_version, registry_client
from tests.support.services import start_stack

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
GRACE_SECONDS = 30  # what the deployments give a stopping API (Kubernetes' default)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("sigterm"))
    try:
        version, _ = log_version(stack)
        registry_client(stack).set_registered_model_alias(MODEL, "production", version)
        yield stack
    finally:
        stack.close()


def logged_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM prediction_log").fetchone()[0]


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_writes_every_answered_row_before_exiting(stack, tmp_path, workers):
    db = tmp_path / "log.db"
    env = {
        "PREDICTION_LOG_URL": f"sqlite:///{db}",
        "TALLER_PREDICTION_LOG_FLUSH_SECONDS": "600",
        "TALLER_PREDICTION_LOG_BATCH_SIZE": "100000",
        "TALLER_SHADOW_FRACTION": "0",
    }
    port = free_port()
    api = api_server(port, stack.tracking_uri, tmp_path / "api.log", workers, env).start(120)
    answered = 0
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for i in range(300):
                body = [ADELIE, GENTOO] * 5 if i % 10 == 0 else ADELIE
                response = http.post("/predict", json=body)
                assert response.status_code == 200, response.text
                answered += 10 if isinstance(body, list) else 1
        assert logged_rows(db) == 0  # nothing written yet: only the shutdown can write them
        started = time.perf_counter()
        api.proc.send_signal(signal.SIGTERM)
        code = api.proc.wait(GRACE_SECONDS)
        seconds = time.perf_counter() - started
    finally:
        api.stop()
    # One worker: uvicorn re-raises the SIGTERM it handled once shut down (so the exit tells the
    # parent why); with several, the supervising process exits 0 after its workers.
    log_text = (tmp_path / "api.log").read_text()
    assert code in (0, -signal.SIGTERM), log_text[-2000:]
    assert "Application shutdown complete" in log_text
    assert logged_rows(db) == answered
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "shutdown.txt").open("a") as out:
        out.write(f"{workers} worker(s): SIGTERM to exit {seconds:.2f} s, {answered} rows\n")
