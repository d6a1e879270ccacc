"""Prometheus metrics: requests and latency by endpoint and model, predictions by class, load time.

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
KNOWN_PATHS = {
    "/predict",
    "/listar_modelos",
    "/health",
    "/ready",
    "/metrics",
    "/docs",
    "/openapi.json",
}


class MetricsMiddleware:
    """Pure ASGI middleware: cheap enough for the prediction hot path."""

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
            path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
            model = scope.get("state", {}).get("model", "")
            REQUESTS.labels(path, scope["method"], str(status), model).inc()
            LATENCY.labels(path, model).observe(time.perf_counter() - started)


def observe_predictions(results: list[dict]) -> None:
    counts = collections.Counter((r["model"], r["version"], r["prediction"]) for r in results)
    for (model, version, species), n in counts.items():
        PREDICTIONS.labels(f"{model}/{version}", species).inc(n)


def observe_load(model) -> None:
    MODEL_LOAD.labels(model.name, model.version).observe(model.load_seconds)


def metrics_response() -> Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
