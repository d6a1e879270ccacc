"""A daemon thread that cannot die for good: the API's background workers (the alias refresher,
the prediction log's writer, shadow scoring) each run under one.

The worker's own loop catches what it expects. Anything that still ends the worker thread (a
BaseException, a bug in the loop itself) is noticed by a watcher thread within `watch_seconds`,
which starts a new worker, counts the restart (`api_thread_restarts_total{thread}`) and tells
`on_restart`. `stop()` sets the stop event the loop watches and waits for both threads.
"""

import logging
import threading
from collections.abc import Callable

from taller_mlflow.serving.metrics import THREAD_RESTARTS

log = logging.getLogger(__name__)


class WatchedThread:
    def __init__(
        self,
        loop: Callable[[threading.Event], None],
        name: str,
        *,
        on_restart: Callable[[], None] | None = None,
        watch_seconds: float = 1.0,
    ):
        """`loop(stopping)` runs until `stopping` is set."""
        self.loop, self.name = loop, name
        self.on_restart, self.watch_seconds = on_restart, watch_seconds
        self.restarts = 0
        self.stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        self.stopping.clear()
        self._worker = self._spawn()
        self._watcher = threading.Thread(
            target=self._watch, name=f"{self.name}-watcher", daemon=True
        )
        self._watcher.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        for thread in (self._watcher, self._worker):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)

    @property
    def started(self) -> bool:
        return self._worker is not None

    @property
    def alive(self) -> bool:
        return bool(self._worker and self._worker.is_alive())

    def _spawn(self) -> threading.Thread:
        worker = threading.Thread(
            target=self.loop, args=(self.stopping,), name=self.name, daemon=True
        )
        worker.start()
        return worker

    def _watch(self) -> None:
        while not self.stopping.is_set():
            self._worker.join(self.watch_seconds)
            if self._worker.is_alive() or self.stopping.is_set():
                continue
            self.restarts += 1
            THREAD_RESTARTS.labels(self.name).inc()
            log.error("%s: worker thread died; restart %d", self.name, self.restarts)
            if self.on_restart:
                self.on_restart()
            self._worker = self._spawn()
