"""`make run`'s supervisor: keeps its servers up and takes them down together.

- A child that exits while nobody asked it to is restarted after a doubling delay (1 s, 2 s, ...
  up to 10 s); each exit and restart is printed. After RestartPolicy.max_restarts restarts within
  RestartPolicy.window seconds it is given up, with the reason; the other children keep serving.
- stop() ends every child's process group at once: SIGTERM, then SIGKILL after `grace` seconds.
- No child outlives the supervisor, even if it is SIGKILLed: each child gets the parent-death
  signal (SIGTERM), and a watchdog process (taller_mlflow.local.watchdog) ends the children's whole
  process groups, grandchildren included, when the supervisor's end of its pipe closes.

supervisord and circus run as daemons of their own, configured by files; honcho stops everything
when one process exits. None fits a child-process supervisor inside a Python command, hence
this small one.
"""

import contextlib
import ctypes
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from taller_mlflow.local.servers import Server

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send `sig` to this process when the thread that started it exits (a no-op
    elsewhere). Used as a child's preexec_fn, and by `make run` for make itself."""
    if _libc is not None:
        _libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def _child_preexec() -> None:
    die_with_parent(signal.SIGTERM)


@dataclass(frozen=True)
class RestartPolicy:
    max_restarts: int = 5
    window: float = 60.0
    first_delay: float = 1.0
    max_delay: float = 10.0

    def delay(self, recent_restarts: int) -> float:
        return min(self.max_delay, self.first_delay * 2**recent_restarts)


@dataclass
class Child:
    server: Server
    restarts: deque = field(default_factory=deque)  # monotonic times of recent restarts
    gave_up: str | None = None

    @property
    def name(self) -> str:
        return self.server.name

    def recent(self, now: float, window: float) -> int:
        while self.restarts and now - self.restarts[0] > window:
            self.restarts.popleft()
        return len(self.restarts)


class Watchdog:
    """The pipe to taller_mlflow.local.watchdog; its stdin closes when this process dies."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "taller_mlflow.local.watchdog"],
            stdin=subprocess.PIPE,
            start_new_session=True,
            text=True,
        )
        self._lock = threading.Lock()

    def _send(self, line: str) -> None:
        with self._lock, contextlib.suppress(BrokenPipeError, ValueError):
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()

    def guard(self, pgid: int) -> None:
        self._send(f"+{pgid}")

    def forget(self, pgid: int) -> None:
        self._send(f"-{pgid}")

    def close(self) -> None:
        with self._lock, contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)


class Supervisor:
    def __init__(self, say=print, policy: RestartPolicy | None = None, grace: float = 3.0):
        self.say, self.policy, self.grace = say, policy or RestartPolicy(), grace
        self.children: list[Child] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # no spawn once stop() has begun
        self.watchdog = Watchdog()

    def spawn(self, server: Server) -> Child:
        """Start `server` without waiting for it; watch it from now on."""
        child = Child(server)
        with self._lock:
            if self._stopping.is_set():
                raise RuntimeError(f"not starting {server.name}: stopping")
            self._spawn(child)
            self.children.append(child)
        threading.Thread(target=self._watch, args=(child,), name=server.name, daemon=True).start()
        return child

    def start(self, server: Server, timeout: float) -> Child:
        """Start `server`, watch it, and return once its health URL answers."""
        child = self.spawn(server)
        server.wait_healthy(timeout)
        return child

    def _spawn(self, child: Child) -> None:
        child.server.spawn(preexec_fn=_child_preexec)
        self.watchdog.guard(child.server.proc.pid)

    def _watch(self, child: Child) -> None:
        while True:
            code = child.server.proc.wait()
            if self._stopping.is_set():
                return
            # The leader is gone, but its workers may still hold the port: end its whole group.
            child.server.kill_group(self.grace)
            self.watchdog.forget(child.server.proc.pid)
            if not self._restart(child, code):
                return

    def _restart(self, child: Child, code: int) -> bool:
        now = time.monotonic()
        recent = child.recent(now, self.policy.window)
        log = f"(log: {child.server.log_path})" if child.server.log_path else ""
        if recent >= self.policy.max_restarts:
            child.gave_up = (
                f"{child.name} exited with {code} after {recent} restarts in "
                f"{self.policy.window:.0f} s; giving up on it {log}"
            )
            self.say(child.gave_up)
            return False
        delay = self.policy.delay(recent)
        self.say(f"{child.name} exited with {code}; restarting it in {delay:.0f} s {log}")
        if self._stopping.wait(delay):
            return False
        with self._lock:
            if self._stopping.is_set():
                return False
            child.restarts.append(time.monotonic())
            self._spawn(child)
        self.say(
            f"restarted {child.name} (pid {child.server.proc.pid}; restart {recent + 1} of "
            f"{self.policy.max_restarts} allowed in {self.policy.window:.0f} s)"
        )
        return True

    @property
    def all_gave_up(self) -> bool:
        return bool(self.children) and all(c.gave_up for c in self.children)

    def stop(self) -> None:
        """End every child's process group at once (SIGTERM, then SIGKILL for what is left after
        `grace` seconds), then the watchdog; idempotent."""
        with self._lock:
            self._stopping.set()
        servers = [c.server for c in self.children if c.server.proc]
        for server in servers:
            server.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while any(s.group_alive() for s in servers) and time.monotonic() < deadline:
            time.sleep(0.1)
        for server in servers:
            server.signal_group(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.proc.wait(5)
        self.watchdog.close()
