"""One event per scored request and model version, handed to the data plane's observers (the
prediction log, shadow scoring).

Observers run on the response path, so they must only enqueue; one that raises is counted in
`prediction_observer_errors_total` and never reaches the client. An observer is a callable; one
with a `wants(alias)` method is asked first (shadow scoring samples its share that way), and an
event no observer wants is never built.
"""

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from taller_mlflow.penguins import FEATURES
from taller_mlflow.serving.metrics import OBSERVER_ERRORS

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Prediction:
    """What one request's rows got from one model version, as columns; the arrays are row
    aligned. Not frozen: a frozen __init__ costs twice as much, and this is built on the response
    path. Observers share each event, so none may change it."""

    request_id: str
    endpoint: str  # the route template: "/predict", "/invocations", "/v2/models/{name}/infer"
    model_name: str
    model_version: str
    model_alias: str | None  # the alias that picked the version, None for NAME/VERSION or latest
    features: Mapping[str, Sequence]  # FEATURES -> one list or 1-D array each
    labels: list[str]
    proba: np.ndarray  # rows x classes
    classes: list[str]
    latency_ms: float
    ts: datetime  # UTC
    agrees: list[bool] | None = None  # shadow rows: did the challenger agree, row by row

    @property
    def rows(self) -> int:
        return len(self.labels)

    def column(self, name: str) -> list:
        values = self.features[name]
        return values.tolist() if isinstance(values, np.ndarray) else list(values)

    def feature_rows(self) -> list[tuple]:
        """One tuple per row, FEATURES order, plain Python values (the prediction log's rows)."""
        return list(zip(*(self.column(c) for c in FEATURES), strict=True))

    def probability_maps(self) -> list[dict[str, float]]:
        # 6 decimals, as /predict answers: onnxruntime's float32 would log 1.0000001192092896.
        rounded = np.round(np.asarray(self.proba, dtype=np.float64), 6).tolist()
        return [dict(zip(self.classes, row, strict=True)) for row in rounded]


Observer = Callable[[Prediction], None]


def wanting(observers: list[Observer], alias: str | None) -> list[Observer]:
    """The observers that want the event of a prediction served through `alias`."""
    chosen = []
    for observer in observers:
        wants = getattr(observer, "wants", None)
        if wants is None or wants(alias):
            chosen.append(observer)
    return chosen


def emit(observers: list[Observer], event: Prediction) -> None:
    """Hand `event` to every observer; an observer's exception is counted, never raised."""
    for observer in observers:
        try:
            observer(event)
        except Exception:
            OBSERVER_ERRORS.inc()
            log.exception("prediction observer %r failed", observer)
