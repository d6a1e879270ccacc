"""Prediction events as rows of table prediction_log: the writer's buffers and the writes.

The response path only queues the event (taller_mlflow.monitoring.log); everything here runs on
the log's writer thread. That is still the API's CPU (the writer runs in the API worker), so the
rows are built by C-level passes over whole columns, not by Python code per row:

- `Columns.add(event)` appends the event to one list per column (COLUMNS order): a feature column
  with one `list.extend`, a value every row of the request shares (ts, request_id, the model,
  latency_ms) with `extend([value] * rows)`.
- The probabilities' JSON texts are made at `take()`, for every buffered row at once: the arrays
  stacked, rounded to 6 decimals (as /predict answers), one `orjson.dumps` of all the numbers and
  one `%` of a template per class set ({"Adelie":%s,...}) give each row's text: the bytes
  `orjson.dumps({class: p, ...})` gives (tests/unit/monitoring/test_inserts.py).
- The SQLite insert interleaves the columns into the driver's row-major parameters with one slice
  assignment per column (`flat[i::16] = column`).

On SQLite (`make run`, the bench) a batch goes straight to the driver as multi-row INSERTs, each
value already in the form SQLAlchemy's SQLite types store (the timestamp as text, the
probabilities as JSON text). On PostgreSQL through psycopg2 (the stack) it is one COPY in the text
format (`CopyColumns`): a line template per event with what its rows share, the rows' own values
filled in by one `%`, so the API makes no text per row but the numbers' and the database server
does the parsing. Any other database gets SQLAlchemy Core's insert. Readers go through SQLAlchemy
and read back the same values whichever way a row was written (tests/unit/monitoring/
test_inserts.py, tests/integration/test_prediction_log_copy.py).
"""

import functools
import io
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import orjson
import sqlalchemy as sa

from taller_mlflow.monitoring.schema import FEATURE_COLUMNS, prediction_log
from taller_mlflow.penguins import CATEGORICAL

HEAD = ("ts", "request_id", "endpoint", "model_name", "model_version", "model_alias")
TAIL = ("prediction", "probabilities", "latency_ms", "agrees")
COLUMNS = (*HEAD, *FEATURE_COLUMNS, *TAIL)
WIDTH = len(COLUMNS)
PROBABILITIES = COLUMNS.index("probabilities")
MAX_ROWS_PER_STATEMENT = 500


def _sqlite_ts(value) -> str:
    # SQLAlchemy's SQLite DateTime text, "YYYY-MM-DD HH:MM:SS.ffffff" (naive: SQLite has no time
    # zones; the rows are UTC), by the C isoformat (half strftime's time), minus "+00:00".
    return value.isoformat(" ", "microseconds")[:26]


def json_text(value) -> str:
    return orjson.dumps(value).decode()


def _same(value):
    return value


# --- the probabilities' JSON ------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def json_template(classes: tuple[str, ...], escape: Callable[[str], str] = _same) -> str:
    """One row's probabilities as orjson writes {class: p, ...}, each number a `%s` slot:
    '{"Adelie":%s,"Chinstrap":%s,"Gentoo":%s}'; `escape` is the COPY format's (numbers never
    need it)."""
    keys = [escape(orjson.dumps(c).decode()).replace("%", "%%") for c in classes]
    return "{" + ",".join(f"{k}:%s" for k in keys) + "}"


def probability_texts(classes, probas: list, escape: Callable[[str], str] = _same) -> list[str]:
    """The JSON text of every row of `probas` (arrays of one class set, stacked in order), in
    C-level passes: round, one orjson call for all the numbers, one `%` for all the rows."""
    stacked = probas[0] if len(probas) == 1 else np.concatenate(probas)
    # 6 decimals, as /predict answers: onnxruntime's float32 would log 1.0000001192092896.
    rounded = np.round(np.asarray(stacked, dtype=np.float64), 6)
    numbers = orjson.dumps(rounded.ravel().tolist())[1:-1].decode().split(",")
    # A newline cannot occur inside the template: orjson escapes it in the class names.
    lines = (json_template(tuple(classes), escape) + "\n") * len(rounded) % tuple(numbers)
    return lines.split("\n")[:-1]


# --- the writer's buffer ----------------------------------------------------------------------


def _plain(values) -> list:
    return values.tolist() if isinstance(values, np.ndarray) else values


class Columns:
    """Buffered rows as one list per column, COLUMNS order, in the form the SQLite driver binds
    (SQLAlchemy's own SQLite storage: see the module's docstring)."""

    width = WIDTH
    probabilities_at = PROBABILITIES
    json_escape = staticmethod(_same)  # a plain function: json_template's cache key

    def __init__(self):
        self.columns: list[list] = [[] for _ in range(self.width)]
        self.rows = 0
        # (classes, proba) per event, in order: the probability column is made at take()
        self._probas: list[tuple] = []

    def ts(self, value):
        return _sqlite_ts(value)

    def add(self, event) -> None:
        n = event.rows
        c = self.columns
        head = (
            self.ts(event.ts),
            event.request_id,
            event.endpoint,
            event.model_name,
            event.model_version,
            event.model_alias,
        )
        for column, value in zip(c, head, strict=False):
            column.extend([value] * n)
        features = event.features
        for column, name in zip(c[len(HEAD) :], FEATURE_COLUMNS, strict=False):
            column.extend(_plain(features[name]))
        labels, _probabilities, latency, agrees = c[len(HEAD) + len(FEATURE_COLUMNS) :]
        labels.extend(event.labels)
        self._probas.append((event.classes, event.proba))
        latency.extend([event.latency_ms] * n)
        # Shadow events (app/shadow.py) carry one `agrees` per row; production rows leave it NULL.
        agree = getattr(event, "agrees", None)
        agrees.extend([None] * n if agree is None else agree)
        self.rows += n

    def _fill_probabilities(self) -> None:
        column = self.columns[self.probabilities_at]
        group, classes = [], None
        for event_classes, proba in self._probas:  # one group per run of the same class set
            if classes is not None and list(event_classes) != list(classes):
                column.extend(probability_texts(classes, group, self.json_escape))
                group = []
            classes = event_classes
            group.append(proba)
        if group:
            column.extend(probability_texts(classes, group, self.json_escape))
        self._probas = []

    def take(self, most: int | None = None) -> "Batch":
        """The first `most` buffered rows (all when None); they leave the buffer."""
        if self._probas:
            self._fill_probabilities()
        count = self.rows if most is None else min(most, self.rows)
        if count == self.rows:
            out, self.columns = self.columns, [[] for _ in range(self.width)]
        else:
            out = [column[:count] for column in self.columns]
            for column in self.columns:
                del column[:count]
        self.rows -= count
        return Batch(out, count)


@dataclass
class Batch:
    """The rows of one write: as columns (COLUMNS order), or as COPY's text."""

    columns: list[list] | None
    rows: int
    data: bytes = b""  # CopyColumns' batches


def interleaved(columns: list[list], rows: int) -> list:
    """The rows' values one row after the other (COLUMNS order), one slice assignment a column."""
    flat = [None] * (rows * WIDTH)
    for i, column in enumerate(columns):
        flat[i::WIDTH] = column
    return flat


# --- SQLite: multi-row INSERTs -------------------------------------------------------------------


@functools.cache
def _sqlite_insert(rows: int) -> str:
    values = "(" + ", ".join("?" * WIDTH) + ")"
    return f"INSERT INTO {prediction_log.name} ({', '.join(COLUMNS)}) VALUES " + ", ".join(
        [values] * rows
    )


def _rows_per_statement(conn: sa.Connection) -> int:
    dbapi = conn.connection.dbapi_connection
    try:
        variables = dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except AttributeError:  # Python < 3.11: assume SQLite's historical default
        variables = 999
    return max(1, min(MAX_ROWS_PER_STATEMENT, variables // WIDTH))


def _insert_sqlite(conn: sa.Connection, batch: Batch, most: int) -> int:
    """Multi-row INSERTs of at most `most` rows, not executemany: the sqlite3 module releases the
    GIL around every statement it steps, and one hand-off per row to the API's event loop and
    back cost more CPU than inserting the row."""
    rows, columns = batch.rows, batch.columns
    per = max(1, min(most, _rows_per_statement(conn)))
    for start in range(0, rows, per):
        count = min(per, rows - start)
        chunk = columns if count == rows else [c[start : start + count] for c in columns]
        conn.exec_driver_sql(_sqlite_insert(count), tuple(interleaved(chunk, count)))
    return rows


# --- PostgreSQL (psycopg2): COPY ----------------------------------------------------------------

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
COPY_NULL = "\\N"
COPY_SQL = f"COPY {prediction_log.name} ({', '.join(COLUMNS)}) FROM STDIN"


def copy_escape(text: str) -> str:
    """A value in COPY's text format: backslash, tab, newline and carriage return escaped."""
    return text.translate(_COPY_ESCAPES)


def _copy_texts(values: list) -> list:
    """A column of strings, escaped only when one of them needs it (one pass over all)."""
    joined = "".join(values)
    if "\\" in joined or not joined.isprintable():
        return [copy_escape(v) for v in values]
    return values


def _number_texts(values: list) -> list[str]:
    """Numbers as text by one orjson call: the shortest text that reads back as the same float
    (str() per number costs many times as much)."""
    if not values:
        return []
    return orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode().split(",")


class CopyColumns:
    """Buffered rows as the lines of COPY's text format, for PostgreSQL through psycopg2.

    Per event, one line template with what its rows share baked in (the request's columns,
    latency_ms, agrees, the probabilities' {"class":%s,...}); per row only the values that differ
    (island, sex, the four measurements, the prediction, one number per class) fill the
    template's slots, all rows at once by one `%`: no text is made per row but the numbers', by
    one orjson call per column. A take is whole events (its templates are)."""

    def __init__(self):
        self.rows = 0
        self._templates: list[str] = []  # per event, its rows' lines
        self._sizes: list[int] = []  # rows per event
        self._probas: list[tuple] = []  # (classes, proba) per event
        self._columns: list[list] = [[] for _ in range(len(FEATURE_COLUMNS) + 1)]  # + labels

    def add(self, event) -> None:
        n = event.rows
        alias = event.model_alias
        head = "\t".join(
            (
                event.ts.isoformat(" ", "microseconds"),
                copy_escape(event.request_id),
                copy_escape(event.endpoint),
                copy_escape(event.model_name),
                copy_escape(event.model_version),
                COPY_NULL if alias is None else copy_escape(alias),
            )
        ).replace("%", "%%")
        values = "\t%s" * len(FEATURE_COLUMNS) + "\t%s\t"  # the features, the prediction
        probabilities = json_template(tuple(event.classes), copy_escape)
        line = f"{head}{values}{probabilities}\t{orjson.dumps(event.latency_ms).decode()}\t"
        agrees = getattr(event, "agrees", None)
        if agrees is None:  # production rows leave it NULL
            self._templates.append(f"{line}{COPY_NULL}\n" * n)
        else:  # shadow rows (app/shadow.py): one per row
            yes, no = f"{line}t\n", f"{line}f\n"
            self._templates.append("".join([yes if a else no for a in agrees]))
        features = event.features
        for column, name in zip(self._columns, FEATURE_COLUMNS, strict=False):
            column.extend(_plain(features[name]))
        self._columns[-1].extend(event.labels)
        self._probas.append((event.classes, event.proba))
        self._sizes.append(n)
        self.rows += n

    def take(self, most: int | None = None) -> Batch:
        """Whole events, at least one, up to `most` rows (all when None), as COPY's text."""
        events, count = len(self._sizes), self.rows
        if most is not None and most < self.rows:
            events, count = 0, 0
            while events < len(self._sizes) and (not events or count + self._sizes[events] <= most):
                count += self._sizes[events]
                events += 1
        columns = [column[:count] for column in self._columns]
        for column in self._columns:
            del column[:count]
        templates, probas = self._templates[:events], self._probas[:events]
        del self._templates[:events], self._probas[:events], self._sizes[:events]
        self.rows -= count
        return Batch(None, count, _copy_text(templates, columns, probas))


def _copy_text(templates: list[str], columns: list[list], probas: list[tuple]) -> bytes:
    if not templates:
        return b""
    texts = []
    for name, column in zip(FEATURE_COLUMNS, columns, strict=False):
        texts.append(_copy_texts(column) if name in CATEGORICAL else _number_texts(column))
    texts.append(_copy_texts(columns[-1]))  # the predictions
    values, start = [], 0
    for _classes, group in _runs(probas):  # a class set: one layout of the slots
        stacked = group[0] if len(group) == 1 else np.concatenate(group)
        # 6 decimals, as /predict answers: onnxruntime's float32 would log 1.0000001192092896.
        rounded = np.round(np.asarray(stacked, dtype=np.float64), 6)
        end = start + len(rounded)
        run = [t[start:end] for t in texts] + [_number_texts(c) for c in rounded.T.tolist()]
        width, rows = len(run), end - start
        flat = [None] * (rows * width)
        for i, column in enumerate(run):
            flat[i::width] = column
        values += flat
        start = end
    return ("".join(templates) % tuple(values)).encode()


def _runs(probas: list[tuple]):
    """(classes, [proba, ...]) per run of events with the same class set, in order."""
    group, classes = [], None
    for event_classes, proba in probas:
        if classes is not None and list(event_classes) != list(classes):
            yield classes, group
            group = []
        classes = event_classes
        group.append(proba)
    if group:
        yield classes, group


def _insert_copy(conn: sa.Connection, batch: Batch, _most: int) -> int:
    if batch.rows:
        with conn.connection.dbapi_connection.cursor() as cursor:
            data = batch.data
            cursor.copy_expert(COPY_SQL, io.BytesIO(data), size=max(8192, len(data)))
    return batch.rows


# --- any other database: SQLAlchemy Core ----------------------------------------------------------


class CoreColumns(Columns):
    """Python values, as SQLAlchemy Core's insert takes them (datetime, a dict per row)."""

    def ts(self, value):
        return value

    def _fill_probabilities(self) -> None:
        column = self.columns[PROBABILITIES]
        for classes, proba in self._probas:
            rounded = np.round(np.asarray(proba, dtype=np.float64), 6).tolist()
            column.extend(dict(zip(classes, row, strict=True)) for row in rounded)
        self._probas = []


def _insert_core(conn: sa.Connection, batch: Batch, _most: int) -> int:
    if batch.rows:
        rows = zip(*batch.columns, strict=True)
        conn.execute(prediction_log.insert(), [dict(zip(COLUMNS, r, strict=True)) for r in rows])
    return batch.rows


@dataclass(frozen=True)
class RowFormat:
    buffer: Callable[[], Columns | CopyColumns]  # an empty buffer; .add(event), .take(most)
    # (connection, batch, most rows per statement) -> rows written
    insert: Callable[[sa.Connection, Batch, int], int]
    # the driver's own exceptions this format may raise (it calls the driver directly)
    driver_errors: tuple[type[BaseException], ...] = ()


SQLITE = RowFormat(Columns, _insert_sqlite)
CORE = RowFormat(CoreColumns, _insert_core)


def _copy_format() -> RowFormat:
    import psycopg2

    return RowFormat(CopyColumns, _insert_copy, (psycopg2.Error,))


def row_format(engine: sa.Engine) -> RowFormat:
    """How this engine's rows are buffered and written."""
    if engine.dialect.name == "sqlite":
        return SQLITE
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg2":
        return _copy_format()
    return CORE
