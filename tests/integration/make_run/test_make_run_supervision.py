"""`make run` supervises its servers: MLflow killed with SIGKILL comes back while the API keeps
answering from its cache, Ctrl-C during the grid search stops everything, and make killed with
SIGKILL leaves no process behind and no port held. How long a stop takes is printed, not asserted
(the supervisor's grace is 2.5 s, then SIGKILL); STOP_GUARD only keeps a hung stop from hanging
the suite. Plus its training output: one progress
count, a top-5 table and the summary, no per-fold lines.

The test that SIGKILLs make comes last: it ends the folder's shared `make run`."""

import os
import signal
import time

import psutil
import pytest
import requests

from taller_mlflow.local.servers import port_is_free
from tests.support import ADELIE, wait_for
from tests.support.make_run import start_make_run
from tests.support.processes import still_running

pytestmark = pytest.mark.timeout(2400)

BACK_WITHIN = (
    60  # seconds: MLflow restarted and /ready true again after the kill (the bound)
)
STOP_GUARD = 60  # seconds: a stop that takes longer is a hang, not a slow machine


def test_training_prints_progress_a_top_5_table_and_the_summary_not_every_fold(make_run):
    out = make_run.output()
    assert "[CV]" not in out and "Fitting 5 folds" not in out
    assert "grid search: 27/27 combinations" in out
    assert "top 5 of 27 combinations" in out
    table = out.split("top 5 of 27 combinations", 1)[1].splitlines()[1:7]
    assert table[0].split()[:3] == ["rank", "cv", "accuracy"]
    assert all(row.split()[0].isdigit() for row in table[1:]), table
    assert "best params" in out and "test accuracy" in out


def ready(api: str) -> int:
    try:
        return requests.get(f"{api}/ready", timeout=10).status_code
    except requests.RequestException:
        return 0


def mlflow_healthy(mlflow: str) -> bool:
    try:
        return requests.get(f"{mlflow}/health", timeout=5).ok
    except requests.RequestException:
        return False


def test_mlflow_killed_is_restarted_while_cached_predictions_keep_answering(make_run):
    predict = f"{make_run.api}/predict"
    assert requests.post(predict, json=ADELIE, timeout=30).json()["prediction"] == "Adelie"
    os.kill(make_run.server_pid("mlflow server"), signal.SIGKILL)
    answers, readiness = [], []

    def back() -> bool:
        resp = requests.post(predict, json=ADELIE, timeout=30)
        answers.append((resp.status_code, resp.json().get("prediction")))
        readiness.append(ready(make_run.api))
        return mlflow_healthy(make_run.mlflow) and readiness[-1] == 200 and 503 in readiness

    came_back = wait_for(back, BACK_WITHIN, interval=0.5)
    out = make_run.output()
    assert answers and all(a == (200, "Adelie") for a in answers), answers
    assert 503 in readiness, f"/ready never turned false while MLflow was down: {readiness}"
    assert came_back, (
        f"MLflow/ready not back within {BACK_WITHIN} s: {readiness[-5:]}\n{out[-2000:]}"
    )
    assert "mlflow exited with -9; restarting it in 1 s" in out
    assert "restarted mlflow (pid" in out
    assert make_run.proc.poll() is None


def described(processes) -> list[str]:
    out = []
    for proc in processes:
        try:
            out.append(f"{proc.pid} {' '.join(proc.cmdline())[:160]}")
        except psutil.Error:
            out.append(f"{proc.pid} (gone)")
    return out


def test_ctrl_c_during_the_grid_search_stops_every_process_and_frees_every_port(tmp_path):
    run = start_make_run(tmp_path / "interrupted")
    try:
        run.wait_for("grid search: 6/27 combinations", 1200)  # mid-search, workers busy
        processes = run.descendants()
        t0 = time.monotonic()
        os.killpg(run.proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        alive = still_running(processes, STOP_GUARD)
        print(f"Ctrl-C to every process gone: {time.monotonic() - t0:.2f} s")
        assert not alive, f"still running {STOP_GUARD} s after Ctrl-C: {described(alive)}"
        assert all(port_is_free(p) for p in run.ports)
        out = run.output()
        assert "interrupted: stopping" in out
        assert "[4/5]" not in out, "the API started after Ctrl-C"
        assert "stopped MLflow and the API, and JupyterLab" in out
    finally:
        run.stop()


def test_make_killed_with_sigkill_leaves_no_process_and_no_port_behind(make_run):
    processes = make_run.descendants()
    assert not any(port_is_free(p) for p in make_run.ports)
    t0 = time.monotonic()
    make_run.proc.kill()
    freed = wait_for(lambda: all(port_is_free(p) for p in make_run.ports), STOP_GUARD, 0.1)
    assert freed, {p: port_is_free(p) for p in make_run.ports}
    ports_s = time.monotonic() - t0
    alive = still_running(processes, STOP_GUARD)
    print(
        f"SIGKILL to ports free: {ports_s:.2f} s; to every process gone: "
        f"{time.monotonic() - t0:.2f} s"
    )
    assert not alive, f"orphans {STOP_GUARD} s after make's death: {described(alive)}"
    assert "stopped MLflow and the API, and JupyterLab" in make_run.output()
