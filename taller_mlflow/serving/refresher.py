"""A periodic job in a watched daemon thread (taller_mlflow/serving/watched.py).

Each tick runs inside try/except, so an error in one refresh is logged and counted and the next
tick runs as usual. Anything that still ends the worker thread is noticed by the watcher, which
starts a new worker and counts the restart.
"""

import logging
import threading
from collections.abc import Callable

from taller_mlflow.serving.watched import WatchedThread

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
        self.on_error = on_error
        self.errors = 0
        self.thread = WatchedThread(
            self._loop, name, on_restart=on_restart, watch_seconds=watch_seconds
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.thread.stop(timeout)

    @property
    def alive(self) -> bool:
        return self.thread.alive

    @property
    def restarts(self) -> int:
        return self.thread.restarts

    def _loop(self, stopping: threading.Event) -> None:
        while not stopping.wait(self.interval):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - one failed refresh must not end the loop
                self.errors += 1
                log.exception("%s: refresh failed; next try in %.0f s", self.name, self.interval)
                if self.on_error:
                    self.on_error(exc)
