"""A periodic job in a daemon thread that cannot die for good.

Each tick runs inside try/except, so an error in one refresh is logged and counted and the next
tick runs as usual. Anything that still ends the worker thread (a BaseException, a bug in the
loop itself) is noticed by a supervisor thread, which starts a new worker and counts the restart.
"""

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Refresher:
    def __init__(
        self,
        tick: Callable[[], None],
        interval: float,
        *,
        on_error: Callable[[BaseException], None] | None = None,
        on_restart: Callable[[], None] | None = None,
        name: str = "model-refresh",
        watch_seconds: float = 1.0,
    ):
        self.tick, self.interval, self.name = tick, interval, name
        self.on_error, self.on_restart = on_error, on_restart
        self.watch_seconds = watch_seconds
        self.errors = 0
        self.restarts = 0
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._supervisor: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._worker = self._spawn()
        self._supervisor = threading.Thread(
            target=self._supervise, name=f"{self.name}-supervisor", daemon=True
        )
        self._supervisor.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for thread in (self._supervisor, self._worker):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)

    @property
    def alive(self) -> bool:
        return bool(self._worker and self._worker.is_alive())

    def _spawn(self) -> threading.Thread:
        worker = threading.Thread(target=self._loop, name=self.name, daemon=True)
        worker.start()
        return worker

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - one failed refresh must not end the loop
                self.errors += 1
                log.exception("%s: refresh failed; next try in %.0f s", self.name, self.interval)
                if self.on_error:
                    self.on_error(exc)

    def _supervise(self) -> None:
        while not self._stop.is_set():
            self._worker.join(self.watch_seconds)
            if self._worker.is_alive() or self._stop.is_set():
                continue
            self.restarts += 1
            log.error("%s: worker thread died; restart %d", self.name, self.restarts)
            if self.on_restart:
                self.on_restart()
            self._worker = self._spawn()
