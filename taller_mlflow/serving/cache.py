"""Loaded model versions: load each once (one lock per version), remember the ones that failed.

A version that cannot be loaded (a broken pickle, a missing module, a model from another
scikit-learn) is recorded with its reason and retried with exponential backoff; until then
asking for it fails fast with ModelLoadFailed instead of downloading it again on every request.
Registry outages are not the version's fault: they propagate as RegistryUnavailable and are
not recorded. A version counts as loaded only once it has predicted a real penguin (smoke_check),
so a model that unpickles but cannot predict is a failed load too, never swapped in.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from taller_mlflow.penguins import EXAMPLE_PENGUIN, FEATURES
from taller_mlflow.serving.refs import ModelNotFound, RegistryUnavailable

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A loaded model version with the fastest verified way to predict."""

    name: str
    version: str
    sk_model: object
    classes: list[str]
    load_seconds: float
    run_id: str | None = None
    # the signature's inputs, [(name, MLflow type)], for V2 metadata; None when not logged
    inputs: list[tuple[str, str]] | None = None
    # predict_proba(rows) and predict_proba_columns(features), verified against scikit-learn
    fast: object | None = None
    fast_status: str = "scikit-learn"

    def predict_proba(self, rows: list[dict]) -> np.ndarray:
        if self.fast is not None:
            return self.fast.predict_proba(rows)
        return self.sk_model.predict_proba(pd.DataFrame(rows, columns=FEATURES))

    def predict_proba_columns(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """`features`: one 1-D array per feature (app/columns.py), no per-row objects."""
        if self.fast is not None:
            return self.fast.predict_proba_columns(features)
        return self.sk_model.predict_proba(pd.DataFrame(features, columns=FEATURES))


@dataclass(frozen=True)
class Fetched:
    """What a loader hands the cache: the model, its run and its signature's inputs."""

    sk_model: object
    run_id: str | None = None
    inputs: list[tuple[str, str]] | None = None


@dataclass(frozen=True)
class LoadFailure:
    name: str
    version: str
    reason: str
    failed_at: float  # wall clock, for people
    attempts: int
    retry_in: float  # seconds after failed_at
    retry_at: float  # monotonic clock, for the backoff

    def describe(self) -> dict:
        return {
            "reason": self.reason,
            "failed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.failed_at)),
            "attempts": self.attempts,
            "retry_in_seconds": round(self.retry_in, 1),
        }


# A real penguin (the dataset's first row): every version must score it before it is served.
SMOKE_PENGUIN = {k: v for k, v in EXAMPLE_PENGUIN.items() if k in FEATURES}


def smoke_check(model: "LoadedModel") -> None:
    """Raise unless the model gives one finite probability row over its classes for a penguin."""
    proba = np.asarray(
        model.sk_model.predict_proba(pd.DataFrame([SMOKE_PENGUIN], columns=FEATURES))
    )
    if proba.shape != (1, len(model.classes)):
        raise ValueError(
            f"smoke prediction: shape {proba.shape}, expected (1, {len(model.classes)})"
        )
    if not np.all(np.isfinite(proba)) or abs(float(proba.sum()) - 1.0) > 1e-3:
        raise ValueError(f"smoke prediction: not probabilities: {proba.tolist()}")


class ModelLoadFailed(RuntimeError):
    """The version exists but cannot be loaded; `failure` says why and when it is retried."""

    def __init__(self, failure: LoadFailure):
        super().__init__(
            f"model {failure.name}/{failure.version} cannot be loaded: {failure.reason}"
            f" (attempt {failure.attempts}, next retry in {failure.retry_in:.0f} s)"
        )
        self.failure = failure


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ModelCache:
    """`loader(name, version) -> Fetched`; hooks see each load and each failure."""

    def __init__(
        self,
        loader: Callable[[str, str], Fetched],
        *,
        compile_fast_path: Callable[[LoadedModel], object] | None = None,
        on_load: Callable[[LoadedModel], None] | None = None,
        on_failure: Callable[[LoadFailure], None] | None = None,
        retry_seconds: float = 15.0,
        retry_max_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.loader = loader
        self.compile_fast_path, self.on_load, self.on_failure = (
            compile_fast_path,
            on_load,
            on_failure,
        )
        self.retry_seconds, self.retry_max_seconds, self.clock = (
            retry_seconds,
            retry_max_seconds,
            clock,
        )
        self._models: dict[tuple[str, str], LoadedModel] = {}
        self._failures: dict[tuple[str, str], LoadFailure] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, name: str, version: str) -> LoadedModel | None:
        return self._models.get((name, version))

    @property
    def loaded(self) -> list[LoadedModel]:
        return list(self._models.values())

    def failure(self, name: str, version: str) -> LoadFailure | None:
        return self._failures.get((name, version))

    @property
    def failures(self) -> list[LoadFailure]:
        return list(self._failures.values())

    def load(self, name: str, version: str) -> LoadedModel:
        key = (name, version)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._models:
                return self._models[key]
            failure = self._failures.get(key)
            if failure and self.clock() < failure.retry_at:
                raise ModelLoadFailed(failure)
            started = time.perf_counter()
            try:
                got = self.loader(name, version)
                classes = [str(c) for c in got.sk_model.classes_]
                model = LoadedModel(
                    name, version, got.sk_model, classes, 0.0, got.run_id, got.inputs
                )
                smoke_check(model)
                if self.compile_fast_path:
                    self.compile_fast_path(model)
            except (ModelNotFound, RegistryUnavailable):
                raise
            except Exception as exc:  # noqa: BLE001 - whatever the artifact does, record it
                raise ModelLoadFailed(self._record_failure(key, failure, exc)) from exc
            model.load_seconds = time.perf_counter() - started
            self._models[key] = model
            self._failures.pop(key, None)
        log.info("loaded %s/%s in %.2fs (%s)", name, version, model.load_seconds, model.fast_status)
        if self.on_load:
            self.on_load(model)
        return model

    def _record_failure(self, key, previous: LoadFailure | None, exc: Exception) -> LoadFailure:
        attempts = previous.attempts + 1 if previous else 1
        wait = min(self.retry_max_seconds, self.retry_seconds * 2 ** (attempts - 1))
        failure = LoadFailure(*key, _reason(exc), time.time(), attempts, wait, self.clock() + wait)
        self._failures[key] = failure
        log.error(
            "cannot load %s/%s (attempt %d, retry in %.0f s): %s",
            *key,
            attempts,
            wait,
            failure.reason,
        )
        if self.on_failure:
            self.on_failure(failure)
        return failure
