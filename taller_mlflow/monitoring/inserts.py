"""Prediction events as rows of table prediction_log, and the insert that writes a batch of them.

Events (app/events.py) give their rows as `feature_rows()` (FEATURES order) and
`probability_maps()`; every row of an event shares its request's columns, so those are encoded
once per event, not once per row.

`RowFormat.encode` runs on the response path (the log queues rows, not events: holding each
request's event and penguins until the writer's next batch kept ~2 KB per request alive, and the
cache misses cost the event loop more than encoding does; `make bench`'s log-cost cells).
`RowFormat.insert` runs on the writer thread.

On SQLite (`make run`, the bench) the batch goes straight to the driver as multi-row INSERTs,
each value already in the form SQLAlchemy's SQLite types store (the timestamp as text, the
probabilities as JSON text): SQLAlchemy's per-row parameter processing was half of the writer's
CPU, and that CPU is taken from the API worker it runs in. Readers still go through SQLAlchemy
and get the same values back (tests/unit/monitoring/test_inserts.py). Any other database gets
SQLAlchemy Core's insert, whose executemany batches rows per statement.
"""

import functools
import itertools
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from taller_mlflow.monitoring.schema import FEATURE_COLUMNS, prediction_log

HEAD = ("ts", "request_id", "endpoint", "model_name", "model_version", "model_alias")
TAIL = ("prediction", "probabilities", "latency_ms", "agrees")
COLUMNS = (*HEAD, *FEATURE_COLUMNS, *TAIL)
MAX_ROWS_PER_STATEMENT = 500


def _same(value):
    return value


def value_rows(event, ts: Callable = _same, probabilities: Callable = _same) -> list[tuple]:
    """One tuple per predicted penguin, in COLUMNS order; `ts` and `probabilities` encode those
    two values for the driver."""
    head = (
        ts(event.ts),
        event.request_id,
        event.endpoint,
        event.model_name,
        event.model_version,
        event.model_alias,
    )
    # Shadow events (app/shadow.py) carry one `agrees` per row; production rows leave it NULL.
    agrees = getattr(event, "agrees", None) or [None] * event.rows
    latency = event.latency_ms
    return [
        (*head, *features, label, probabilities(proba), latency, agree)
        for features, label, proba, agree in zip(
            event.feature_rows(), event.labels, event.probability_maps(), agrees, strict=True
        )
    ]


def _sqlite_ts(value) -> str:
    # SQLAlchemy's SQLite DateTime text, "YYYY-MM-DD HH:MM:SS.ffffff" (naive: SQLite has no time
    # zones; the rows are UTC), by the C isoformat (half strftime's time), minus "+00:00".
    return value.isoformat(" ", "microseconds")[:26]


def json_text(value) -> str:
    return orjson.dumps(value).decode()


@functools.cache
def _sqlite_insert(rows: int) -> str:
    values = "(" + ", ".join("?" * len(COLUMNS)) + ")"
    return f"INSERT INTO {prediction_log.name} ({', '.join(COLUMNS)}) VALUES " + ", ".join(
        [values] * rows
    )


def _rows_per_statement(conn: sa.Connection) -> int:
    dbapi = conn.connection.dbapi_connection
    try:
        variables = dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except AttributeError:  # Python < 3.11: assume SQLite's historical default
        variables = 999
    return max(1, min(MAX_ROWS_PER_STATEMENT, variables // len(COLUMNS)))


def _encode_sqlite(event) -> list[tuple]:
    return value_rows(event, _sqlite_ts, json_text)


def _insert_sqlite(conn: sa.Connection, rows: list[tuple]) -> int:
    """Multi-row INSERTs, not executemany: the sqlite3 module releases the GIL around every
    statement it steps, and one hand-off per row to the API's event loop and back cost more CPU
    than inserting the row."""
    per = _rows_per_statement(conn)
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        flat = tuple(itertools.chain.from_iterable(chunk))
        conn.exec_driver_sql(_sqlite_insert(len(chunk)), flat)
    return len(rows)


def _insert_core(conn: sa.Connection, rows: list[tuple]) -> int:
    if rows:
        conn.execute(prediction_log.insert(), [dict(zip(COLUMNS, r, strict=True)) for r in rows])
    return len(rows)


@dataclass(frozen=True)
class RowFormat:
    encode: Callable[[object], list[tuple]]  # event -> its rows, in COLUMNS order
    insert: Callable[[sa.Connection, list[tuple]], int]  # (connection, rows) -> rows written


SQLITE = RowFormat(_encode_sqlite, _insert_sqlite)
CORE = RowFormat(value_rows, _insert_core)


def row_format(engine: sa.Engine) -> RowFormat:
    """How this engine's rows are encoded and written."""
    return SQLITE if engine.dialect.name == "sqlite" else CORE
