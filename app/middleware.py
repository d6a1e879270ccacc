"""Two pure-ASGI middlewares, cheap enough for the prediction hot path, and /metrics' response.

- RequestIdMiddleware keeps a sane incoming X-Request-ID or makes one (a UUIDv7), stores it and
  the arrival time in scope["state"], and returns it on every response, errors included.
- MetricsMiddleware counts requests and latency by route template, method, status and model.

With several uvicorn workers, PROMETHEUS_MULTIPROC_DIR makes /metrics add up every worker.
"""

import os
import re
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response

from taller_mlflow.serving.dataplane import Context

HEADER = b"x-request-id"
# A client's id is kept only when it is safe to log and to echo in a header.
_SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")

REQUESTS = Counter("api_requests_total", "HTTP requests", ["endpoint", "method", "status", "model"])
LATENCY = Histogram(
    "api_request_seconds",
    "Request latency",
    ["endpoint", "model"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


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


def context(request: Request) -> Context:
    """The request's id, route template and arrival time, for the data plane's events."""
    state = request.scope.get("state", {})
    endpoint = getattr(request.scope.get("route"), "path", None) or request.url.path
    return Context(
        state.get("request_id") or new_request_id(),
        endpoint,
        state.get("started") or time.perf_counter(),
    )


def served_by(request: Request, served: str) -> None:
    """Label this request's metrics with the model version that answered it."""
    request.scope.setdefault("state", {})["model"] = served


class MetricsMiddleware:
    """The endpoint label is the matched route's template (Starlette's router leaves the route in
    the scope), so every route is counted by name and unmatched paths fall into "other"."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_with_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "other"
            model = scope.get("state", {}).get("model", "")
            REQUESTS.labels(path, scope["method"], str(status), model).inc()
            LATENCY.labels(path, model).observe(time.perf_counter() - started)


def metrics_response() -> Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
