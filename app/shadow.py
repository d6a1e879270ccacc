"""Shadow scoring: a sampled share of production's predictions is scored again by the model's
`challenger` alias, and the agreement is counted per challenger version.

`ShadowScorer` is a prediction observer (app/events.py): on the response path it only draws a
random number (`wants`, before any event is built) and, for a sampled event, puts it on a small
bounded queue (a full queue drops it, counted). A daemon thread does the rest, every 0.1 s for
what arrived: it finds the challenger (app/challengers.py), scores the batch's feature columns in
one call, compares labels row by row, records the agreement (app/agreement.py) and, when a sink
is given (the prediction log), writes rows with endpoint "shadow" and `agrees` set.
So the response's body and timing never depend on the challenger.
"""

import logging
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from prometheus_client import Counter

from app.agreement import AgreementBook
from app.challengers import Challengers
from app.events import PredictionEvent, columns_of
from taller_mlflow.serving import ModelRegistry

log = logging.getLogger(__name__)

ENDPOINT = "shadow"
ALIAS = "challenger"
TAKE_EVERY_SECONDS = 0.1  # how often the worker takes the sampled events
MAX_EVENTS_PER_BATCH = 256

SHADOW_DROPPED = Counter(
    "api_shadow_dropped_total", "Sampled requests not shadowed (reason: queue_full)", ["reason"]
)


@dataclass(eq=False)
class ShadowEvent(PredictionEvent):
    """The challenger's answer for one production event; `agrees` is row aligned."""

    agrees: list[bool] = field(default_factory=list)


class ShadowScorer:
    def __init__(
        self,
        registry: ModelRegistry,
        fraction: float,
        *,
        alias: str = ALIAS,
        sink=None,
        recheck_seconds: float = 30.0,
        queue_size: int = 1000,
        rng=random.random,
        start: bool = True,
    ):
        self.registry, self.fraction, self.alias = registry, fraction, alias
        self.sink, self.recheck_seconds, self.rng = sink, recheck_seconds, rng
        self.queue: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
        self.challengers = Challengers(registry, alias, recheck_seconds)
        self.agreement = AgreementBook()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)
        self.taken = 0  # events the worker took off the queue
        self.scored = 0  # events the worker finished with, for tests and the bench
        if start:
            self._thread.start()

    # --- the response path: a random number, and a put_nowait for the sampled ---------------
    def wants(self, alias: str | None) -> bool:
        """Is this prediction sampled? Asked before its event is built (app/events.py): only
        production's (served through the default alias), `fraction` of them."""
        return alias == self.registry.default_alias and self.rng() < self.fraction

    def __call__(self, event: PredictionEvent) -> None:
        """The observer, for an event `wants` chose."""
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            SHADOW_DROPPED.labels("queue_full").inc()

    def observe(self, event: PredictionEvent) -> None:
        """Sample and queue an event built anyway."""
        if self.wants(event.model_alias):
            self(event)

    # --- what the rest of the API asks ------------------------------------------------------
    def invalidate(self, name: str) -> None:
        """An alias of `name` moved (webhook): look its challenger up again on the next event."""
        self.challengers.forget(name)

    def challenger_version(self, name: str) -> str | None:
        return self.challengers.version(name)

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
        # pay (measured by bench/promotion.py's shadow cells).
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

    def _take(self) -> list[PredictionEvent]:
        events = []
        while len(events) < MAX_EVENTS_PER_BATCH:
            try:
                events.append(self.queue.get_nowait())
            except queue.Empty:
                break
        self.taken += len(events)
        return events

    def score(self, event: PredictionEvent) -> None:
        self.score_batch([event])

    def score_batch(self, events: list[PredictionEvent]) -> None:
        """Score the events of each model with its challenger in one call: their feature columns
        are joined, and the answer is split back per event."""
        by_model: dict[str, list[PredictionEvent]] = {}
        for event in events:
            by_model.setdefault(event.model_name, []).append(event)
        for name, group in by_model.items():
            version = self.challengers.version(name)
            group = [e for e in group if version is not None and e.model_version != version]
            model = self.challengers.model(name, version) if group else None
            if model is None:
                continue
            rows = [row for event in group for row in event.feature_rows()]
            started = time.perf_counter()
            proba = model.predict_proba_columns(columns_of(rows))
            elapsed_ms = (time.perf_counter() - started) * 1000.0 / len(group)
            labels = np.asarray(model.classes, dtype=object)[proba.argmax(axis=1)].tolist()
            production = [label for event in group for label in event.labels]
            agrees = [a == b for a, b in zip(labels, production, strict=True)]
            self.agreement.count(name, version, group, agrees)
            if self.sink is not None:
                self._log(group, version, model, labels, proba, agrees, elapsed_ms)

    def _log(self, group, version, model, labels, proba, agrees, elapsed_ms) -> None:
        """The challenger's rows to the sink (the prediction log), one event per request."""
        start = 0
        for event in group:
            end = start + event.rows
            self.sink(
                ShadowEvent(
                    request_id=event.request_id,
                    endpoint=ENDPOINT,
                    model_name=event.model_name,
                    model_version=version,
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


def start_shadow(app, settings, prediction_log=None) -> ShadowScorer | None:
    """Shadow scoring as a prediction observer, unless TALLER_SHADOW_FRACTION is 0; its rows go
    to the prediction log when there is one. The listing reads its agreement counts."""
    if settings.shadow_fraction <= 0:
        return None
    scorer = ShadowScorer(
        app.state.registry,
        settings.shadow_fraction,
        sink=prediction_log.observe if prediction_log is not None else None,
        recheck_seconds=settings.model_refresh_seconds,
    )
    app.state.registry.shadow_stats = scorer.stats
    app.state.prediction_observers.append(scorer)  # sampled through scorer.wants
    return scorer


def stop_shadow(app) -> None:
    scorer = getattr(app.state, "shadow", None)
    if scorer is not None:
        app.state.prediction_observers.remove(scorer)
        scorer.close()
