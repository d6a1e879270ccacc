"""The supervisor's watchdog: `python -m taller_mlflow.local.watchdog`, reading its standard input.

Each line names a process group to guard (`+PGID`) or to forget (`-PGID`). End of input means the
supervisor is gone, however it died (a SIGKILL included: the kernel closes its end of the pipe),
so the watchdog stops every guarded group: SIGTERM, then SIGKILL for what is left after the
grace period. Grandchildren (MLflow's uvicorn workers, say) share their group, so none is left
holding a port. It runs in a session of its own, so a Ctrl-C in the terminal does not reach it.
"""

import contextlib
import os
import signal
import sys
import time

GRACE_SECONDS = 3.0
POLL_SECONDS = 0.1


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # the id now belongs to someone else's group: not ours to touch
        return False
    return True


def signal_groups(groups, sig: int) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def stop_groups(groups: set[int], grace: float = GRACE_SECONDS) -> None:
    """SIGTERM every group, wait up to `grace` seconds for them to empty, SIGKILL the rest."""
    signal_groups(groups, signal.SIGTERM)
    deadline = time.monotonic() + grace
    alive = {g for g in groups if group_alive(g)}
    while alive and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        alive = {g for g in alive if group_alive(g)}
    signal_groups(alive, signal.SIGKILL)


def read_groups(lines) -> set[int]:
    """Follow +PGID / -PGID lines until end of input; return the groups still guarded."""
    groups: set[int] = set()
    for line in lines:
        line = line.strip()
        if line[:1] in "+-" and line[1:].isdigit():
            (groups.add if line[0] == "+" else groups.discard)(int(line[1:]))
    return groups


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the end of input stops the watchdog
    stop_groups(read_groups(sys.stdin))
    return 0


if __name__ == "__main__":
    sys.exit(main())
