"""Shadow scoring: a sampled share of production's predictions is scored again by the model's
`challenger` alias, and the agreement is counted per challenger version.

`ShadowScorer` is a data-plane observer (taller_mlflow/serving/events.py): on the response path
it only draws a random number (`wants`, before any event is built) and, for a sampled event, puts
it on a small bounded queue (a full queue drops it, counted). A daemon thread does the rest, every
0.1 s for what arrived: it asks the registry for `name@challenger` (an alias reference like any
other, refreshed and swapped by webhooks), scores the batch's columns in one call, compares labels
row by row, records the agreement (shadow_agreement.py) and, when a sink is given (the prediction
log), writes rows with endpoint "shadow" and `agrees` set. So the response's body and timing never
depend on the challenger.
"""

import logging
import queue
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
        queue_size: int = 1000,
        rng=random.random,
        start: bool = True,
    ):
        self.registry, self.fraction, self.sink, self.rng = registry, fraction, sink, rng
        self.alias = registry.challenger_alias
        self.queue: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
        self.agreement = AgreementBook()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)
        self.taken = 0  # events the worker took off the queue
        self.scored = 0  # events the worker finished with, for tests and the bench
        if start:
            self._thread.start()

    # --- the response path: a random number, and a put_nowait for the sampled ---------------
    def wants(self, alias: str | None) -> bool:
        """Is this prediction sampled? Asked before its event is built: only production's (served
        through the default alias), `fraction` of them."""
        return alias == self.registry.default_alias and self.rng() < self.fraction

    def __call__(self, event: Prediction) -> None:
        """The observer, for an event `wants` chose."""
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            SHADOW_DROPPED.labels("queue_full").inc()

    # --- what the rest of the API asks ------------------------------------------------------
    def stats(self) -> dict[tuple[str, str], dict]:
        return self.agreement.describe()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # --- the worker --------------------------------------------------------------------------
    def _run(self) -> None:
        # Wake every TAKE_EVERY_SECONDS and take what arrived in one go: waking for each sampled
        # event would hand the GIL to this thread and back once per event, a cost the responses
        # pay (measured by the bench's shadow cells).
        while not self._stop.wait(TAKE_EVERY_SECONDS):
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
        while len(events) < MAX_EVENTS_PER_BATCH:
            try:
                events.append(self.queue.get_nowait())
            except queue.Empty:
                break
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
