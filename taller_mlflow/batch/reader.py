"""The input table: checked once, split into key ranges, and read one range at a time.

A partition is a half-open range of the key column, so each task reads its rows with one
indexed query, wherever it runs, and no rows travel through the process that planned them.
"""

import math
from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa

from taller_mlflow.penguins import FEATURES
from taller_mlflow.stage import StageError


@dataclass(frozen=True)
class Partition:
    index: int
    low: int  # key >= low
    high: int  # key < high


@cache
def engine(url: str) -> sa.Engine:
    """One engine per URL and process: a worker reuses its connections across partitions."""
    # Two worker processes may write one SQLite file: wait for its lock instead of failing.
    args = {"timeout": 120} if url.startswith("sqlite") else {}
    options = {}
    if url.startswith("mysql"):
        # InnoDB's default REPEATABLE READ locks the gaps around each partition's key-range
        # DELETE, so two workers writing neighbouring ranges deadlock; READ COMMITTED does not.
        options["isolation_level"] = "READ COMMITTED"
    return sa.create_engine(url, pool_pre_ping=True, connect_args=args, **options)


def inspect_input(url: str, table: str, key: str) -> tuple[int, int, int]:
    """(rows, smallest key, largest key) of the input, or a StageError naming what is missing."""
    try:
        columns = {c["name"] for c in sa.inspect(engine(url)).get_columns(table)}
    except sa.exc.NoSuchTableError:
        raise StageError("input", f"no table {table!r} at {_where(url)}") from None
    except sa.exc.SQLAlchemyError as exc:
        raise StageError("input", f"{_where(url)}: {_first_line(exc)}") from None
    missing = [c for c in [key, *FEATURES] if c not in columns]
    if missing:
        raise StageError("input", f"table {table!r} has no column {', '.join(missing)}")
    t = sa.table(table, sa.column(key))
    query = sa.select(sa.func.count(), sa.func.min(t.c[key]), sa.func.max(t.c[key]))
    with engine(url).connect() as conn:
        rows, low, high = conn.execute(query).one()
    if rows and not all(isinstance(v, int) for v in (low, high)):
        raise StageError("input", f"key column {key!r} must hold integers (got {low!r})")
    return rows, low or 0, high or 0


def plan(rows: int, low: int, high: int, rows_per_partition: int) -> list[Partition]:
    """Key ranges covering [low, high], about rows_per_partition rows each if keys are dense."""
    if rows == 0:
        return []
    count = max(1, math.ceil(rows / rows_per_partition))
    width = max(1, math.ceil((high - low + 1) / count))
    edges = list(range(low, high + 1, width)) + [high + 1]
    return [Partition(i, a, b) for i, (a, b) in enumerate(zip(edges, edges[1:], strict=False))]


def read(url: str, table: str, key: str, part: Partition) -> dict[str, list]:
    """The partition's rows as columns: the key, then the six features."""
    t = sa.table(table, *(sa.column(c) for c in [key, *FEATURES]))
    query = sa.select(*t.c).where(t.c[key] >= part.low, t.c[key] < part.high).order_by(t.c[key])
    with engine(url).connect() as conn:
        result = conn.execute(query)
        # The driver's own tuples: SQLAlchemy's Row objects cost three times the fetch itself
        # (the untyped columns get no result processing either way).
        rows = result.cursor.fetchall()
        result.close()
    columns = list(zip(*rows, strict=True)) or [()] * (1 + len(FEATURES))
    return {name: list(values) for name, values in zip([key, *FEATURES], columns, strict=True)}


def _where(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def _first_line(exc: Exception) -> str:
    return (str(getattr(exc, "orig", None) or exc).splitlines() or [type(exc).__name__])[0]
