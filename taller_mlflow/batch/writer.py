"""The output table: one row per input row and batch run, scored or not.

    batch_run_id, <key>, prediction, probability_<class>..., model_name, model_version,
    scored_at, reason

A bad row has an empty prediction and probabilities and a `reason`. The primary key is
(batch_run_id, key), and each partition is written in one transaction that first deletes what
the same run wrote over the same key range: re-running a run id replaces its rows, never adds.
"""

import re
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


def replace(engine: sa.Engine, table: sa.Table, key: str, run_id: str, span, rows: list[dict]):
    """The run's rows of key range span = (low, high) replaced by `rows`, in one transaction."""
    low, high = span
    with engine.begin() as conn:
        conn.execute(
            sa.delete(table).where(
                table.c[RUN_ID] == run_id, table.c[key] >= low, table.c[key] < high
            )
        )
        if rows:
            conn.execute(sa.insert(table), rows)
