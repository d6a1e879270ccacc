"""Loaded model versions: load each once (one lock per version), keep at most `max_models`, and
remember the ones that could not be served.

A version that cannot be served (no verified artifact, a graph that does not match its tag, a
graph that answers differently than it did at the gate) is recorded with its reason and retried
with exponential backoff; until then asking for it fails fast with ModelLoadFailed instead of
downloading it again on every request. Registry outages are not the version's fault: they
propagate as RegistryUnavailable and are not recorded.

The cache is bounded: past `max_models` loaded versions, the least recently used one is dropped
(it loads again if asked for). The registry also drops a version as soon as no reference it
serves points at it (after a swap).
"""

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from taller_mlflow.serving.artifacts import ServedModel
from taller_mlflow.serving.problems import (
    LoadFailure,
    ModelLoadFailed,
    ModelNotFound,
    RegistryUnavailable,
)

log = logging.getLogger(__name__)

MAX_FAILURES = 256  # failures remembered (the oldest is forgotten first)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:400]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ModelCache:
    """`loader(name, version) -> ServedModel`; hooks see each load, failure and eviction."""

    def __init__(
        self,
        loader: Callable[[str, str], ServedModel],
        *,
        max_models: int = 8,
        on_load: Callable[[ServedModel], None] | None = None,
        on_failure: Callable[[LoadFailure], None] | None = None,
        retry_seconds: float = 15.0,
        retry_max_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.loader, self.max_models = loader, max(1, max_models)
        self.on_load, self.on_failure = on_load, on_failure
        self.retry_seconds, self.retry_max_seconds, self.clock = (
            retry_seconds,
            retry_max_seconds,
            clock,
        )
        self._models: OrderedDict[tuple[str, str], ServedModel] = OrderedDict()
        self._failures: OrderedDict[tuple[str, str], LoadFailure] = OrderedDict()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()
        self.evictions = 0

    def get(self, name: str, version: str) -> ServedModel | None:
        """The loaded version, or None; a hit makes it the most recently used."""
        key = (name, version)
        model = self._models.get(key)
        if model is not None:
            # Dropped by another thread meanwhile: still usable for this call.
            with contextlib.suppress(KeyError):
                self._models.move_to_end(key)
        return model

    def peek(self, name: str, version: str) -> ServedModel | None:
        """The loaded version without touching its recency (the listing uses this)."""
        return self._models.get((name, version))

    @property
    def loaded(self) -> list[ServedModel]:
        return list(self._models.values())

    def failure(self, name: str, version: str) -> LoadFailure | None:
        return self._failures.get((name, version))

    @property
    def failures(self) -> list[LoadFailure]:
        return list(self._failures.values())

    def drop(self, name: str, version: str) -> bool:
        """Forget a loaded version (no reference serves it any more)."""
        with self._lock:
            dropped = self._models.pop((name, version), None) is not None
            self._locks.pop((name, version), None)
        if dropped:
            log.info("dropped %s/%s: nothing serves it any more", name, version)
        return dropped

    def load(self, name: str, version: str) -> ServedModel:
        key = (name, version)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._models:
                return self.get(name, version)
            failure = self._failures.get(key)
            if failure and self.clock() < failure.retry_at:
                raise ModelLoadFailed(failure)
            try:
                model = self.loader(name, version)
            except (ModelNotFound, RegistryUnavailable):
                raise
            except Exception as exc:  # noqa: BLE001 - whatever the artifact does, record it
                raise ModelLoadFailed(self._record_failure(key, failure, exc)) from exc
            self._store(key, model)
        log.info("loaded %s/%s in %.2fs (onnxruntime)", name, version, model.load_seconds)
        if self.on_load:
            self.on_load(model)
        return model

    def _store(self, key: tuple[str, str], model: ServedModel) -> None:
        with self._lock:
            self._models[key] = model
            self._models.move_to_end(key)
            self._failures.pop(key, None)
            while len(self._models) > self.max_models:
                old, _ = self._models.popitem(last=False)
                self._locks.pop(old, None)
                self.evictions += 1
                log.info("evicted %s/%s: more than %d versions loaded", *old, self.max_models)

    def _record_failure(self, key, previous: LoadFailure | None, exc: Exception) -> LoadFailure:
        attempts = previous.attempts + 1 if previous else 1
        wait = min(self.retry_max_seconds, self.retry_seconds * 2 ** (attempts - 1))
        failure = LoadFailure(*key, _reason(exc), time.time(), attempts, wait, self.clock() + wait)
        with self._lock:
            self._failures[key] = failure
            self._failures.move_to_end(key)
            while len(self._failures) > MAX_FAILURES:
                self._failures.popitem(last=False)
        log.error(
            "cannot serve %s/%s (attempt %d, retry in %.0f s): %s",
            *key,
            attempts,
            wait,
            failure.reason,
        )
        if self.on_failure:
            self.on_failure(failure)
        return failure
