"""The output table: one row per input row and batch run, scored or not.

    batch_run_id, <key>, prediction, probability_<class>..., model_name, model_version,
    scored_at, reason

A bad row has an empty prediction and probabilities and a `reason`. The primary key is
(batch_run_id, key), and each partition is written in one transaction that first deletes what
the same run wrote over the same key range: re-running a run id replaces its rows, never adds.
"""

import itertools
import re
import time
from dataclasses import dataclass

import sqlalchemy as sa

from taller_mlflow.stage import StageError

RUN_ID = "batch_run_id"
REASON_LENGTH = 255


def probability_column(label: str) -> str:
    return "probability_" + re.sub(r"\W+", "_", label).strip("_").lower()


def output_table(name: str, key: str, classes: list[str]) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column(RUN_ID, sa.String(64), primary_key=True),
        sa.Column(key, sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("prediction", sa.String(64), nullable=True),
        *(sa.Column(probability_column(c), sa.Float, nullable=True) for c in classes),
        sa.Column("model_name", sa.String(255), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("scored_at", sa.DateTime, nullable=False),
        sa.Column("reason", sa.String(REASON_LENGTH), nullable=True),
    )


def ensure(engine: sa.Engine, table: sa.Table) -> None:
    """Create the table, or check that an existing one has its columns (a table written for a
    model with other classes cannot take this one's probabilities)."""
    table.metadata.create_all(engine, checkfirst=True)
    have = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
    missing = [c.name for c in table.columns if c.name not in have]
    if missing:
        raise StageError(
            "output", f"table {table.name!r} exists without column {', '.join(missing)}"
        )


@dataclass(frozen=True)
class Stamp:
    """What every row of one batch run carries."""

    run_id: str
    model_name: str
    model_version: str
    scored_at: object  # datetime, UTC, naive (every database stores it the same way)

    def columns(self) -> dict:
        return {
            RUN_ID: self.run_id,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "scored_at": self.scored_at,
        }


# Drivers whose own executemany sends many rows per statement (sqlite3 in C, PyMySQL as one
# multi-row INSERT): handing them the rows directly skips SQLAlchemy's per-row parameter
# processing, most of a partition's write time. Others (psycopg2) keep SQLAlchemy's batched insert.
DIRECT = {"sqlite", "mysql"}


def replace(engine: sa.Engine, table: sa.Table, key: str, span, columns: dict, constants: dict):
    """The rows of run constants[RUN_ID] in key range span = (low, high) replaced, in one
    transaction, by the rows of `columns` (equal-length lists) and `constants` (same in every
    row). A transaction the database chose as a deadlock's victim is tried again: it is whole
    or nothing, and replacing is idempotent."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _replace(engine, table, key, span, columns, constants)
        except sa.exc.OperationalError as exc:
            if attempt == ATTEMPTS or not _is_deadlock(exc):
                raise
            time.sleep(0.05 * attempt)


ATTEMPTS = 5
DEADLOCKS = {1205, 1213}  # MySQL/MariaDB: lock wait timeout, deadlock found


def _is_deadlock(exc: sa.exc.OperationalError) -> bool:
    args = getattr(exc.orig, "args", ())
    return bool(args) and args[0] in DEADLOCKS


def _replace(engine: sa.Engine, table: sa.Table, key: str, span, columns: dict, constants: dict):
    low, high = span
    rows = len(columns[key])
    with engine.begin() as conn:
        conn.execute(
            sa.delete(table).where(
                table.c[RUN_ID] == constants[RUN_ID], table.c[key] >= low, table.c[key] < high
            )
        )
        if not rows:
            return
        if conn.dialect.name not in DIRECT:
            conn.execute(sa.insert(table), _dicts(columns, constants))
            return
        compiled = sa.insert(table).compile(dialect=conn.dialect)
        names = list(compiled.positiontup) if compiled.positional else list(table.c.keys())
        series = [_series(table.c[n].type, conn.dialect, n, columns, constants) for n in names]
        tuples = zip(*series, strict=False)  # the constants repeat without end
        tuples = itertools.islice(tuples, rows)
        if compiled.positional:
            params = list(tuples)
        else:
            params = [dict(zip(names, t, strict=True)) for t in tuples]
        conn.exec_driver_sql(str(compiled), params)


def _series(type_, dialect, name: str, columns: dict, constants: dict):
    process = type_._cached_bind_processor(dialect)
    if name in constants:
        value = constants[name]
        return itertools.repeat(process(value) if process and value is not None else value)
    values = columns[name]
    return values if process is None else [None if v is None else process(v) for v in values]


def _dicts(columns: dict, constants: dict) -> list[dict]:
    names = list(columns)
    return [
        {**constants, **dict(zip(names, t, strict=True))}
        for t in zip(*columns.values(), strict=True)
    ]
