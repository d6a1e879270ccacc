"""The data plane: the one object that scores, for every protocol.

In the style of MLServer's `handlers/dataplane.py` and KServe's `protocol/dataplane.py`, each
protocol is a codec (decode, score, encode) over this object, which owns what they share:

- `score(model_text, columns, ctx)`: validate the columns, resolve and load the version, run its
  graph, count the predictions, and hand the event to the observers (the prediction log, shadow
  sampling). It raises only domain errors (taller_mlflow/serving/problems.py).
- `run(work, size=..., models=...)`: where the work runs. Small bodies for loaded models run
  inline, on the event loop (a thread hop costs more than scoring one row). Everything else (large
  bodies, to parse as well as to score, and anything that may call the registry) runs on a small
  pool of scoring threads, so the event loop stays free for /health and the other requests. When
  `max_pending` requests already wait for that pool, the next one is refused (Overloaded, a 503)
  rather than queued without bound.
"""

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import numpy as np

from taller_mlflow.serving.artifacts import ServedModel
from taller_mlflow.serving.events import Observer, Prediction, emit, wanting
from taller_mlflow.serving.features import features_from_columns
from taller_mlflow.serving.metrics import OVERLOADED, observe_labels
from taller_mlflow.serving.onnx_model import labels_of
from taller_mlflow.serving.problems import InvalidReference, Overloaded
from taller_mlflow.serving.refs import ModelRef, Resolution
from taller_mlflow.serving.registry import ModelRegistry

T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """Where a request came from, for its event: set by the HTTP layer."""

    request_id: str
    endpoint: str
    started: float  # time.perf_counter() when the request arrived


@dataclass(eq=False)
class Scored:
    """One model version's answer for a set of rows."""

    model: ServedModel
    resolution: Resolution
    ref: ModelRef
    features: Mapping[str, Sequence]
    proba: np.ndarray
    labels: list[str]

    @property
    def alias(self) -> str | None:
        """The alias that chose the served version; None when a version was named or was the
        latest."""
        return self.ref.alias if self.resolution.via == "alias" else None

    @property
    def served(self) -> str:
        return f"{self.model.name}/{self.model.version}"


class DataPlane:
    def __init__(
        self,
        registry: ModelRegistry,
        *,
        max_rows: int = 10_000,
        inline_bytes: int = 65_536,
        threads: int = 2,
        max_pending: int = 64,
    ):
        self.registry, self.max_rows = registry, max_rows
        self.inline_bytes, self.max_pending = inline_bytes, max_pending
        self.observers: list[Observer] = []  # the prediction log, shadow scoring; tests add theirs
        self.shadow = None  # a ShadowScorer, when shadow scoring is on
        self._executor = ThreadPoolExecutor(max(1, threads), thread_name_prefix="score")
        self._pending = 0  # requests waiting for or on a scoring thread (event loop only)

    # --- scoring -----------------------------------------------------------------------------
    def parse(self, model_text: str | None) -> ModelRef:
        try:
            return self.registry.parse(model_text)
        except ValueError as exc:
            raise InvalidReference(f"model: {exc}") from exc

    def score(
        self,
        model_text: str | None,
        columns: Mapping[str, Sequence],
        ctx: Context,
        *,
        validated: bool = False,
    ) -> Scored:
        """Score `columns` (one sequence per feature) with the version `model_text` names.
        `validated`: the codec has applied the feature rules already (/predict's Penguin)."""
        ref = self.parse(model_text)
        features = columns if validated else features_from_columns(columns, self.max_rows)
        model, resolution = self.registry.get(ref)
        proba = model.predict_proba(features)
        scored = Scored(model, resolution, ref, features, proba, labels_of(model.classes, proba))
        observe_labels(scored.served, scored.labels)
        self._record(scored, ctx)
        return scored

    def _record(self, scored: Scored, ctx: Context) -> None:
        to = wanting(self.observers, scored.alias)
        if not to:
            return
        event = Prediction(
            request_id=ctx.request_id,
            endpoint=ctx.endpoint,
            model_name=scored.model.name,
            model_version=scored.model.version,
            model_alias=scored.alias,
            features=scored.features,
            labels=scored.labels,
            proba=scored.proba,
            classes=scored.model.classes,
            latency_ms=(time.perf_counter() - ctx.started) * 1000.0,
            ts=datetime.now(UTC),
        )
        emit(to, event)

    # --- where the work runs -----------------------------------------------------------------
    async def run(
        self, work: Callable[[], T], *, size: int, models: Iterable[str | None] | None
    ) -> T:
        """Run `work` inline when it is small and needs no registry call (`models` are the model
        references it will score, None when not known before parsing); else on a scoring thread."""
        small = size <= self.inline_bytes and models is not None
        if small and all(self.registry.is_ready(m) for m in models):
            return work()
        if self._pending >= self.max_pending:
            OVERLOADED.inc()
            raise Overloaded(
                f"this worker is busy: {self._pending} requests are waiting to be scored; retry"
            )
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work)
        finally:
            self._pending -= 1

    # --- what the HTTP layer asks ----------------------------------------------------------
    def describe(self) -> list[dict]:
        shadow = self.shadow.stats() if self.shadow is not None else None
        return self.registry.describe(shadow)

    def start(self) -> None:
        """After warm-up: the refresher (and shadow scoring's thread, started with it)."""
        self.registry.start()

    def stop(self) -> None:
        self.registry.stop()
        if self.shadow is not None:
            self.shadow.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
