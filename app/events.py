"""Prediction events: a request id and a start time on every request, and one event per
prediction handed to the observers (the prediction log, shadow scoring).

Observers run on the response path, so they must only enqueue; one that raises is counted in
`prediction_observer_errors_total` and never reaches the client. An observer is a callable; one
with a `wants(alias)` method is asked first (shadow scoring samples its share that way), and an
event no observer wants is never built.
"""

import logging
import operator
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

import numpy as np
from prometheus_client import Counter
from starlette.requests import Request

from taller_mlflow.penguins import FEATURES

log = logging.getLogger(__name__)

HEADER = b"x-request-id"
# A client's id is kept only when it is safe to log and to echo in a header.
_SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")

OBSERVER_ERRORS = Counter(
    "prediction_observer_errors_total", "Prediction observers that raised (the answer still went)"
)


@dataclass(eq=False)
class _Event:
    # Not frozen: a frozen __init__ costs twice as much, and RowsEvent is made on the response
    # path. Observers share each event, so none may change it.
    request_id: str
    endpoint: str  # the route template: "/predict", "/invocations", "/v2/models/{name}/infer"
    model_name: str
    model_version: str
    model_alias: str | None  # the alias that picked the version, None for NAME/VERSION or latest
    labels: list[str]
    classes: list[str]
    latency_ms: float
    ts: datetime  # UTC

    @property
    def rows(self) -> int:
        return len(self.labels)


@dataclass(eq=False)
class PredictionEvent(_Event):
    """One request's predictions from one model version, as columns (the columnar protocols
    have them already); the arrays are row aligned. Every event type offers the same four views:
    `features` and `proba` as columns (shadow scoring), `feature_rows()` and `probability_maps()`
    per row (the prediction log)."""

    features: dict[str, np.ndarray]  # FEATURES -> 1-D array
    proba: np.ndarray  # rows x classes

    def feature_rows(self) -> list[tuple]:
        return list(zip(*(self.features[c].tolist() for c in FEATURES), strict=True))

    def probability_maps(self) -> list[dict[str, float]]:
        # 6 decimals, as /predict answers: onnxruntime's float32 would log 1.0000001192092896.
        rounded = np.round(np.asarray(self.proba, dtype=np.float64), 6).tolist()
        return [dict(zip(self.classes, row, strict=True)) for row in rounded]


@dataclass(eq=False)
class RowsEvent(_Event):
    """/predict's event, from its validated penguins and answer rows as they are: the response
    path builds no array. Columns are made only when an observer asks (shadow scoring's sampled
    share), and the prediction log reads the rows directly."""

    penguins: list  # objects with the FEATURES as attributes
    probabilities: list[dict[str, float]]  # class -> probability, per row

    @cached_property
    def features(self) -> dict[str, np.ndarray]:
        return columns_of(self.feature_rows())

    @cached_property
    def proba(self) -> np.ndarray:
        return np.asarray([[row[c] for c in self.classes] for row in self.probabilities])

    def feature_rows(self) -> list[tuple]:
        return [_feature_values(p) for p in self.penguins]

    def probability_maps(self) -> list[dict[str, float]]:
        return self.probabilities


_feature_values = operator.attrgetter(*FEATURES)


def columns_of(rows: list[tuple]) -> dict[str, np.ndarray]:
    """Feature rows (FEATURES order) as one array per feature."""
    return {c: np.asarray(v) for c, v in zip(FEATURES, zip(*rows, strict=True), strict=True)}


Observer = Callable[[PredictionEvent | RowsEvent], None]


def new_request_id() -> str:
    """A UUIDv7 (RFC 9562) as 32 hex digits: milliseconds since the epoch, then 74 random bits.
    Time ordered, so the prediction log's request_id index grows at its end; random ids put each
    row on a random index page, which cost SQLite a page write per row (`make bench`)."""
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (time.time_ns() // 1_000_000) << 80
        | 0x7 << 76  # version
        | (rand >> 64 & 0xFFF) << 64  # 12 random bits
        | 0b10 << 62  # variant
        | rand & ((1 << 62) - 1)
    )
    return f"{value:032x}"


class RequestIdMiddleware:
    """Pure ASGI: keeps a sane incoming X-Request-ID or makes one, stores it and the start time
    in scope["state"], and returns it on every response (errors included)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        rid = None
        for name, value in scope["headers"]:
            if name == HEADER:
                rid = value if _SANE_ID.fullmatch(value) else None
                break
        rid = rid or new_request_id().encode()
        state = scope.setdefault("state", {})
        state["request_id"], state["started"] = rid.decode(), started

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, rid)]}
            await send(message)

        await self.app(scope, receive, send_with_id)


def request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id") or new_request_id()


def observers(request: Request) -> list[Observer]:
    return getattr(request.app.state, "prediction_observers", None) or []


def wanting(request: Request, alias: str | None) -> list[Observer]:
    """The observers that want the event of a prediction served through `alias`."""
    chosen = []
    for observer in observers(request):
        wants = getattr(observer, "wants", None)
        if wants is None or wants(alias):
            chosen.append(observer)
    return chosen


def endpoint_of(request: Request) -> str:
    return getattr(request.scope.get("route"), "path", None) or request.url.path


def latency_ms(request: Request) -> float:
    started = request.scope.get("state", {}).get("started")
    return 0.0 if started is None else (time.perf_counter() - started) * 1000.0


def emit(request: Request, event, to: list[Observer] | None = None) -> None:
    """Hand `event` to every observer; an observer's exception is counted, never raised."""
    for observer in observers(request) if to is None else to:
        try:
            observer(event)
        except Exception:
            OBSERVER_ERRORS.inc()
            log.exception("prediction observer %r failed", observer)


def record(
    request: Request,
    *,
    model,
    alias: str | None,
    features: dict[str, np.ndarray],
    labels: list[str],
    proba: np.ndarray,
) -> None:
    """Build and emit the event for a columnar prediction (`model` is a LoadedModel)."""
    to = wanting(request, alias)
    if not to:
        return
    event = PredictionEvent(
        request_id=request_id(request),
        endpoint=endpoint_of(request),
        model_name=model.name,
        model_version=str(model.version),
        model_alias=alias,
        features=features,
        labels=labels,
        proba=proba,
        classes=list(model.classes),
        latency_ms=latency_ms(request),
        ts=datetime.now(UTC),
    )
    emit(request, event, to)


def alias_of(registry, model_text: str | None, resolution) -> str | None:
    """The alias that chose the served version; None when a version was named or was the latest."""
    if resolution is None or resolution.via != "alias":
        return None
    try:
        return registry.parse(model_text).alias
    except ValueError:
        return None


def _served_by(result: dict) -> tuple:
    return result["model"], result["version"], result["alias"]


def record_results(request: Request, penguins: list, results: list[dict]) -> None:
    """/predict's events: its penguins and answer rows, one event per model version asked for."""
    if not observers(request):
        return
    key = _served_by(results[0])
    if all(_served_by(r) == key for r in results):  # the usual case: one model version
        groups = {key: (penguins, results)}
    else:
        groups = {}
        for penguin, r in zip(penguins, results, strict=True):
            rows, answers = groups.setdefault(_served_by(r), ([], []))
            rows.append(penguin)
            answers.append(r)
    common = None
    for (name, version, alias), (rows, answers) in groups.items():
        to = wanting(request, alias)
        if not to:
            continue
        if common is None:  # only when some observer wants an event
            common = request_id(request), endpoint_of(request), latency_ms(request)
        rid, endpoint, latency = common
        event = RowsEvent(
            request_id=rid,
            endpoint=endpoint,
            model_name=name,
            model_version=str(version),
            model_alias=alias,
            labels=[r["prediction"] for r in answers],
            classes=list(answers[0]["probabilities"]),
            latency_ms=latency,
            ts=datetime.now(UTC),
            penguins=rows,
            probabilities=[r["probabilities"] for r in answers],
        )
        emit(request, event, to)
