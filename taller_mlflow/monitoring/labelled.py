"""The logged predictions that have a label: the prediction log joined with table feedback.

A label addresses a request's row by its index among the request's production rows in the order
they were logged (taller_mlflow.monitoring.feedback), so the join numbers each request's rows
with ROW_NUMBER() (SQLite and PostgreSQL alike) and matches (request_id, row). Only requests
that have a label are numbered, and only their rows answered within the window are kept.
"""

from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from taller_mlflow.monitoring.audit import numbered_rows
from taller_mlflow.monitoring.feedback_schema import feedback
from taller_mlflow.monitoring.schema import prediction_log

COLUMNS = [
    "model_name",
    "model_version",
    "model_alias",
    "request_id",
    "row",
    "ts",
    "prediction",
    "probabilities",
    "species",
    "received_at",
]


def read_labelled(engine: sa.Engine, start: datetime, end: datetime) -> pd.DataFrame:
    """Every labelled production row answered in [start, end), one row per label."""
    f = feedback
    n = numbered_rows(sa.select(f.c.request_id).distinct())
    query = (
        sa.select(*(n.c[c] for c in COLUMNS[:6]), n.c.prediction, n.c.probabilities)
        .add_columns(f.c.species, f.c.received_at)
        .join_from(n, f, sa.and_(f.c.request_id == n.c.request_id, f.c.row == n.c.row))
        .where(n.c.ts >= start, n.c.ts < end)
        .order_by(n.c.id)
    )
    with engine.connect() as conn:
        inspect = sa.inspect(conn)
        if not (inspect.has_table(f.name) and inspect.has_table(prediction_log.name)):
            return pd.DataFrame(columns=COLUMNS)
        frame = pd.DataFrame(conn.execute(query).mappings().all(), columns=COLUMNS)
    for column in ("ts", "received_at"):  # SQLite gives naive UTC; PostgreSQL aware
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame
