"""Prometheus metrics: requests and latency by route and model, predictions by class, model loads,
load failures, and the health of the background refresher.

With several uvicorn workers, PROMETHEUS_MULTIPROC_DIR makes /metrics add up every worker.
"""

import collections
import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.responses import Response

REQUESTS = Counter("api_requests_total", "HTTP requests", ["endpoint", "method", "status", "model"])
LATENCY = Histogram(
    "api_request_seconds",
    "Request latency",
    ["endpoint", "model"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PREDICTIONS = Counter("api_predictions_total", "Predicted penguins", ["model", "species"])
MODEL_LOAD = Histogram(
    "api_model_load_seconds",
    "Time to load (and verify) a model version",
    ["model", "version"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
LOAD_FAILURES = Counter(
    "api_model_load_failures_total", "Failed loads of a model version", ["model", "version"]
)
REFRESH_ERRORS = Counter("api_model_refresh_errors_total", "Alias refreshes that raised")
REFRESHER_RESTARTS = Counter(
    "api_model_refresher_restarts_total", "Times the refresher thread died and was restarted"
)


class MetricsMiddleware:
    """Pure ASGI middleware: cheap enough for the prediction hot path.

    The endpoint label is the matched route's template (Starlette's router leaves the route in
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


def observe_predictions(results: list[dict]) -> None:
    counts = collections.Counter((r["model"], r["version"], r["prediction"]) for r in results)
    for (model, version, species), n in counts.items():
        PREDICTIONS.labels(f"{model}/{version}", species).inc(n)


def observe_labels(model: str, labels: list[str]) -> None:
    for species, n in collections.Counter(labels).items():
        PREDICTIONS.labels(model, species).inc(n)


def registry_hooks() -> dict:
    """The ModelRegistry's callbacks, counted here."""
    return {
        "on_load": lambda m: MODEL_LOAD.labels(m.name, m.version).observe(m.load_seconds),
        "on_failure": lambda f: LOAD_FAILURES.labels(f.name, f.version).inc(),
        "on_error": lambda _exc: REFRESH_ERRORS.inc(),
        "on_restart": REFRESHER_RESTARTS.inc,
    }


def metrics_response() -> Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
