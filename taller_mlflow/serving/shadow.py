"""Shadow scoring: a sampled share of production's predictions is scored again by the model's
`challenger` alias, and the agreement is counted per challenger version.

`ShadowScorer` is a data-plane observer (taller_mlflow/serving/events.py): on the response path
it only draws a random number (`wants`, before any event is built) and, for a sampled event, puts
it on a queue bounded by rows (a full one drops it, counted: a 10,000-row request is 10,000 rows
to hold, not one slot). A watched daemon thread (watched.py) does the rest, every
0.1 s for what arrived: it asks the registry for `name@challenger` (an alias reference like any
other, refreshed and swapped by webhooks), scores the batch's columns in one call, compares labels
row by row, records the agreement (shadow_agreement.py) and, when a sink is given (the prediction
log), writes rows with endpoint "shadow" and `agrees` set. So the response's body and timing never
depend on the challenger.
"""

import collections
import logging
import random
import threading
import time
from datetime import UTC, datetime

from taller_mlflow.penguins import FEATURES
from taller_mlflow.serving.events import Prediction
from taller_mlflow.serving.metrics import SHADOW_DROPPED
from taller_mlflow.serving.onnx_model import labels_of
from taller_mlflow.serving.registry import ModelRegistry
from taller_mlflow.serving.shadow_agreement import AgreementBook
from taller_mlflow.serving.watched import WatchedThread

log = logging.getLogger(__name__)

ENDPOINT = "shadow"
TAKE_EVERY_SECONDS = 0.1  # how often the worker takes the sampled events
MAX_EVENTS_PER_BATCH = 256


class ShadowScorer:
    def __init__(
        self,
        registry: ModelRegistry,
        fraction: float,
        *,
        sink=None,
        queue_rows: int = 10_000,
        rng=random.random,
        start: bool = True,
    ):
        self.registry, self.fraction, self.sink, self.rng = registry, fraction, sink, rng
        self.alias = registry.challenger_alias
        self.queue: collections.deque = collections.deque()
        self.queue_rows = max(1, queue_rows)
        self.queued_rows = 0
        self._lock = threading.Lock()
        self.agreement = AgreementBook()
        self.thread = WatchedThread(self._run, "shadow")
        self.taken = 0  # events the worker took off the queue
        self.scored = 0  # events the worker finished with, for tests and the bench
        if start:
            self.thread.start()

    # --- the response path: a random number, and a put_nowait for the sampled ---------------
    def wants(self, alias: str | None) -> bool:
        """Is this prediction sampled? Asked before its event is built: only production's (served
        through the default alias), `fraction` of them."""
        return alias == self.registry.default_alias and self.rng() < self.fraction

    def __call__(self, event: Prediction) -> None:
        """The observer, for an event `wants` chose."""
        with self._lock:
            room = self.queued_rows + event.rows <= self.queue_rows
            if room:
                self.queued_rows += event.rows
        if room:
            self.queue.append(event)
        else:
            SHADOW_DROPPED.labels("queue_full").inc()

    # --- what the rest of the API asks ------------------------------------------------------
    def stats(self) -> dict[tuple[str, str], dict]:
        return self.agreement.describe()

    def close(self, timeout: float = 5.0) -> None:
        self.thread.stop(timeout)

    # --- the worker --------------------------------------------------------------------------
    def _run(self, stopping: threading.Event) -> None:
        # Wake every TAKE_EVERY_SECONDS and take what arrived in one go: waking for each sampled
        # event would hand the GIL to this thread and back once per event, a cost the responses
        # pay (measured by the bench's shadow cells).
        while not stopping.wait(TAKE_EVERY_SECONDS):
            events = self._take()
            if not events:
                continue
            try:
                self.score_batch(events)
            except Exception:  # noqa: BLE001 - one bad batch must not end shadow scoring
                log.exception("shadow scoring failed for %d requests", len(events))
            finally:
                self.scored += len(events)

    def _take(self) -> list[Prediction]:
        events = []
        while self.queue and len(events) < MAX_EVENTS_PER_BATCH:
            events.append(self.queue.popleft())
        with self._lock:
            self.queued_rows -= sum(e.rows for e in events)
        self.taken += len(events)
        return events

    def score_batch(self, events: list[Prediction]) -> None:
        """Score the events of each model with its challenger in one call: their columns are
        joined, and the answer is split back per event."""
        by_model: dict[str, list[Prediction]] = {}
        for event in events:
            by_model.setdefault(event.model_name, []).append(event)
        for name, group in by_model.items():
            model = self.registry.challenger(name)
            if model is None:
                continue
            group = [e for e in group if e.model_version != model.version]
            if not group:
                continue
            columns = {c: [v for e in group for v in e.column(c)] for c in FEATURES}
            started = time.perf_counter()
            proba = model.predict_proba(columns)
            elapsed_ms = (time.perf_counter() - started) * 1000.0 / len(group)
            labels = labels_of(model.classes, proba)
            production = [label for event in group for label in event.labels]
            agrees = [a == b for a, b in zip(labels, production, strict=True)]
            self.agreement.count(name, model.version, group, agrees)
            if self.sink is not None:
                self._log(group, model, labels, proba, agrees, elapsed_ms)

    def _log(self, group, model, labels, proba, agrees, elapsed_ms) -> None:
        """The challenger's rows to the sink (the prediction log), one event per request."""
        start = 0
        for event in group:
            end = start + event.rows
            self.sink(
                Prediction(
                    request_id=event.request_id,
                    endpoint=ENDPOINT,
                    model_name=event.model_name,
                    model_version=model.version,
                    model_alias=self.alias,
                    features=event.features,
                    labels=labels[start:end],
                    proba=proba[start:end],
                    classes=list(model.classes),
                    latency_ms=elapsed_ms,  # the challenger's scoring time, shared per event
                    ts=datetime.now(UTC),
                    agrees=agrees[start:end],
                )
            )
            start = end
