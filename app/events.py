"""Prediction events: a request id and a start time on every request, and one event per
prediction handed to the observers (the prediction log, shadow scoring).

Observers run on the response path, so they must only enqueue; one that raises is counted in
`prediction_observer_errors_total` and never reaches the client. With no observer, no event is
built at all.
"""

import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from prometheus_client import Counter
from starlette.requests import Request

from taller_mlflow.data import FEATURES

log = logging.getLogger(__name__)

HEADER = b"x-request-id"
# A client's id is kept only when it is safe to log and to echo in a header.
_SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")

OBSERVER_ERRORS = Counter(
    "prediction_observer_errors_total", "Prediction observers that raised (the answer still went)"
)


@dataclass(frozen=True)
class PredictionEvent:
    """One request's predictions from one model version; the arrays are row aligned."""

    request_id: str
    endpoint: str  # the route template: "/predict", "/invocations", "/v2/models/{name}/infer"
    model_name: str
    model_version: str
    model_alias: str | None  # the alias that picked the version, None for NAME/VERSION or latest
    features: dict[str, np.ndarray]  # FEATURES -> 1-D array
    labels: list[str]
    proba: np.ndarray  # rows x classes
    classes: list[str]
    latency_ms: float
    ts: datetime  # UTC

    @property
    def rows(self) -> int:
        return len(self.labels)


Observer = Callable[[PredictionEvent], None]


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
        rid = rid or uuid.uuid4().hex.encode()
        state = scope.setdefault("state", {})
        state["request_id"], state["started"] = rid.decode(), started

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, rid)]}
            await send(message)

        await self.app(scope, receive, send_with_id)


def request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id") or uuid.uuid4().hex


def observers(request: Request) -> list[Observer]:
    return getattr(request.app.state, "prediction_observers", None) or []


def endpoint_of(request: Request) -> str:
    return getattr(request.scope.get("route"), "path", None) or request.url.path


def latency_ms(request: Request) -> float:
    started = request.scope.get("state", {}).get("started")
    return 0.0 if started is None else (time.perf_counter() - started) * 1000.0


def emit(request: Request, event: PredictionEvent) -> None:
    """Hand `event` to every observer; an observer's exception is counted, never raised."""
    for observer in observers(request):
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
    if not observers(request):
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
    emit(request, event)


def alias_of(registry, model_text: str | None, resolution) -> str | None:
    """The alias that chose the served version; None when a version was named or was the latest."""
    if resolution is None or resolution.via != "alias":
        return None
    try:
        return registry.parse(model_text).alias
    except ValueError:
        return None


def record_results(request: Request, penguins: list, results: list[dict]) -> None:
    """/predict's events: its penguins and answer rows, one event per model version asked for."""
    if not observers(request):
        return
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(results):
        groups.setdefault((r["model"], r["version"], r["alias"]), []).append(i)
    started = latency_ms(request)
    for (name, version, alias), idx in groups.items():
        rows = [penguins[i] for i in idx]
        classes = list(results[idx[0]]["probabilities"])
        event = PredictionEvent(
            request_id=request_id(request),
            endpoint=endpoint_of(request),
            model_name=name,
            model_version=str(version),
            model_alias=alias,
            features={c: np.asarray([getattr(p, c) for p in rows]) for c in FEATURES},
            labels=[results[i]["prediction"] for i in idx],
            proba=np.asarray([[results[i]["probabilities"][c] for c in classes] for i in idx]),
            classes=classes,
            latency_ms=started,
            ts=datetime.now(UTC),
        )
        emit(request, event)
