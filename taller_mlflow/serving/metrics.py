"""The serving core's Prometheus metrics: predictions by class, model loads and their failures,
the refresher's health, shadow scoring, observers. The HTTP layer counts requests and latency
(app/middleware.py).

With several uvicorn workers, PROMETHEUS_MULTIPROC_DIR makes /metrics add up every worker.
"""

import collections

from prometheus_client import Counter, Histogram

PREDICTIONS = Counter("api_predictions_total", "Predicted penguins", ["model", "species"])
MODEL_LOAD = Histogram(
    "api_model_load_seconds",
    "Time to fetch, verify and load a model version's ONNX graph",
    ["model", "version"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
LOAD_FAILURES = Counter(
    "api_model_load_failures_total", "Failed loads of a model version", ["model", "version"]
)
REFRESH_ERRORS = Counter("api_model_refresh_errors_total", "Alias refreshes that raised")
REFRESHER_RESTARTS = Counter(
    "api_model_refresher_restarts_total", "Times the refresher thread died and was restarted"
)
THREAD_RESTARTS = Counter(
    "api_thread_restarts_total",
    "Background threads that died and were restarted (thread: model-refresh, prediction-log, "
    "shadow)",
    ["thread"],
)
OBSERVER_ERRORS = Counter(
    "prediction_observer_errors_total", "Prediction observers that raised (the answer still went)"
)
OVERLOADED = Counter(
    "api_overloaded_total", "Requests refused with 503 because the worker's scoring queue was full"
)
SHADOW_ROWS = Counter(
    "api_shadow_rows_total",
    "Rows scored by the challenger beside production, by whether the labels agreed",
    ["model", "challenger_version", "agrees"],
)
SHADOW_DROPPED = Counter(
    "api_shadow_dropped_total", "Sampled requests not shadowed (reason: queue_full)", ["reason"]
)


def observe_labels(model: str, labels: list[str]) -> None:
    if len(labels) == 1:  # the common case: one row
        PREDICTIONS.labels(model, labels[0]).inc()
        return
    for species, n in collections.Counter(labels).items():
        PREDICTIONS.labels(model, species).inc(n)


def registry_hooks() -> dict:
    """The registry's callbacks, counted here."""
    return {
        "on_load": lambda m: MODEL_LOAD.labels(m.name, m.version).observe(m.load_seconds),
        "on_failure": lambda f: LOAD_FAILURES.labels(f.name, f.version).inc(),
        "on_error": lambda _exc: REFRESH_ERRORS.inc(),
        "on_restart": REFRESHER_RESTARTS.inc,
    }
