"""Rows written straight into a prediction log (SQLite), as the API's writer would write them."""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from taller_mlflow.monitoring.schema import create_schema, prediction_log
from tests.support import ADELIE

CLASSES = ("Adelie", "Chinstrap", "Gentoo")
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def log_engine(tmp_path) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    create_schema(engine)
    return engine


def log_request(
    engine,
    request_id: str,
    predictions: list[str],
    *,
    version: str = "1",
    alias: str | None = "production",
    ts: datetime = T0,
    confidence: float = 0.9,
    endpoint: str = "/predict",
) -> None:
    """One request's rows, in order: each predicted class with `confidence`, the rest shared."""
    rest = (1.0 - confidence) / (len(CLASSES) - 1)
    rows = [
        {
            "ts": ts,
            "request_id": request_id,
            "endpoint": endpoint,
            "model_name": "modelo_penguins",
            "model_version": version,
            "model_alias": alias,
            **ADELIE,
            "prediction": label,
            "probabilities": {c: confidence if c == label else rest for c in CLASSES},
            "latency_ms": 1.0,
            "agrees": None,
        }
        for label in predictions
    ]
    with engine.begin() as conn:
        conn.execute(prediction_log.insert(), rows)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
