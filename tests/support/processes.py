"""Waiting for processes to end."""

import time

import psutil


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def still_running(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """The processes that have not exited within `timeout` seconds.

    A zombie has exited: it runs no code and holds no port or file, only a process-table entry
    until its parent reaps it. Orphans are reaped by PID 1, and where PID 1 is not an init that
    reaps (CI's sandbox), an orphaned worker stays a zombie for good, so it is not counted.
    """
    deadline = time.monotonic() + timeout
    alive = [p for p in processes if _running(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if _running(p)]
    return alive
