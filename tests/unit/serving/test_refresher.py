"""The refresher thread: an error in one tick is survived; a dead worker is restarted and counted."""

import threading

import pytest

from taller_mlflow.serving.refresher import Refresher
from tests.support import wait_for


def test_the_loop_keeps_ticking_after_a_tick_raises():
    ticks, errors = [], []

    def tick():
        ticks.append(1)
        if len(ticks) <= 2:
            raise RuntimeError("dictionary changed size during iteration")

    refresher = Refresher(tick, 0.01, on_error=errors.append)
    refresher.start()
    try:
        assert wait_for(lambda: len(ticks) >= 5, 10, 0.01)
        assert refresher.alive
    finally:
        refresher.stop()
    assert refresher.errors == 2
    assert [str(e) for e in errors] == ["dictionary changed size during iteration"] * 2


class WorkerKilled(BaseException):
    """Escapes `except Exception`, as SystemExit or a bug in the loop itself would."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_supervisor_restarts_a_dead_worker_and_counts_the_restart():
    ticks, restarts = [], []
    first = threading.Event()

    def tick():
        ticks.append(1)
        if not first.is_set():
            first.set()
            raise WorkerKilled

    refresher = Refresher(tick, 0.01, on_restart=lambda: restarts.append(1), watch_seconds=0.01)
    refresher.start()
    try:
        assert wait_for(lambda: len(ticks) >= 3, 10, 0.01)
        assert refresher.alive
    finally:
        refresher.stop()
    assert refresher.restarts == 1
    assert restarts == [1]


def test_stop_ends_both_threads():
    refresher = Refresher(lambda: None, 0.01, watch_seconds=0.01)
    refresher.start()
    refresher.stop()
    assert not refresher.alive
    assert not refresher.thread._watcher.is_alive()
