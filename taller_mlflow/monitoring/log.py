"""The prediction log's writer: rows in a bounded queue, out in batches, off the hot path.

`PredictionLog.observe(event)` is an observer of app/events.py: it encodes the event's rows
(taller_mlflow.monitoring.inserts) and puts them in a bounded queue (never blocks). A daemon
thread drains the queue and inserts a batch at a time, a batch being `batch_size` rows or
whatever arrived within `flush_seconds`.

A prediction never waits for, nor fails because of, the database: a full queue drops the event,
a failed insert drops its batch; both are counted in `prediction_log_dropped_total` (by reason).
After a failure the next batch reconnects (pool_pre_ping) and re-creates the schema, so writing
resumes by itself when the database comes back. `close()` writes what is queued, then stops.
Rows older than `retention_days` are deleted at start and hourly.
"""

import collections
import contextlib
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from prometheus_client import Counter

from taller_mlflow.monitoring.inserts import json_text, row_format
from taller_mlflow.monitoring.schema import create_schema, prediction_log

log = logging.getLogger(__name__)

WRITTEN = Counter("prediction_log_written_total", "Prediction log rows inserted")
DROPPED = Counter(
    "prediction_log_dropped_total",
    "Prediction log rows dropped (reason: queue_full, db_error); the predictions still answered",
    ["reason"],
)
RETENTION_EVERY_SECONDS = 3600.0
TAKE_EVERY_SECONDS = 0.05  # how often a writer filling a batch looks at the queue
SQLITE_BUSY_SECONDS = 30  # several API workers may share one SQLite file: wait for the lock


def make_engine(url: str) -> sa.Engine:
    """pool_pre_ping: a connection the database dropped is replaced, not used for an insert."""
    backend = sa.engine.make_url(url).get_backend_name()
    connect_args = {}
    if backend == "sqlite":
        connect_args = {"timeout": SQLITE_BUSY_SECONDS}
    elif backend == "postgresql":
        connect_args = {"connect_timeout": 5}  # a partitioned database: fail, don't hang
    engine = sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=1,
        connect_args=connect_args,
        json_serializer=json_text,  # orjson: the writer's CPU is taken from the API's
    )
    if backend == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_wal)
    return engine


def _sqlite_wal(dbapi_connection, _record) -> None:
    # WAL: readers (the drift job, a sqlite3 shell) don't block the writers, nor they them.
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    # NORMAL, SQLite's advice for WAL: no fsync per commit, still never a corrupt file; a power
    # cut (not a crash of the API) may lose the last commits' rows. The fsync was a third of the
    # writer's cost, for a log whose rows a full queue may drop anyway.
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class PredictionLog:
    def __init__(
        self,
        url: str,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_seconds: float = 1.0,
        retention_days: float = 30,
        start: bool = True,
    ):
        self.where = sa.engine.make_url(url).render_as_string(hide_password=True)
        self.engine = make_engine(url)
        self.rows = row_format(self.engine)
        # Encoded rows, not events (taller_mlflow.monitoring.inserts), in a deque, not a
        # queue.Queue: append and popleft are atomic and the writer polls, so the response path
        # takes no lock and wakes no thread.
        self.queue: collections.deque = collections.deque()
        self.queue_size = max(1, queue_size)
        self.batch_size, self.flush_seconds = max(1, batch_size), flush_seconds
        self.retention_days = retention_days
        self.written = self.dropped = 0  # this instance's, for tests and the bench
        self._schema_ready = False
        self._failing = False  # log a failure once per outage, not once per batch
        self._next_retention = 0.0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        if start:
            self.start()

    @classmethod
    def from_settings(cls, settings) -> "PredictionLog":
        return cls(
            settings.prediction_log_url,
            queue_size=settings.prediction_log_queue_size,
            batch_size=settings.prediction_log_batch_size,
            flush_seconds=settings.prediction_log_flush_seconds,
            retention_days=settings.prediction_log_retention_days,
        )

    def start(self) -> None:
        self._thread.start()

    # --- the hot path -------------------------------------------------------------------------
    def observe(self, event) -> None:
        if len(self.queue) + event.rows > self.queue_size:
            self._drop("queue_full", event.rows)
        else:
            self.queue.extend(self.rows.encode(event))

    # --- the writer thread --------------------------------------------------------------------
    def _run(self) -> None:
        # The table exists as soon as the API is up, for readers (the drift job, a query), not
        # only after the first batch; a database that is away now is retried at that batch.
        with contextlib.suppress(sa.exc.SQLAlchemyError), self.engine.begin() as conn:
            self._ensure_schema(conn)
        while not self._stopping.is_set():
            try:
                self._write(self._next_batch())
                self._maybe_purge()
            except Exception:  # the writer must outlive any surprise; the batch is counted
                log.exception("prediction log writer: unexpected error")
        self._write(self._take())

    def _next_batch(self) -> list:
        """Rows for one insert: up to batch_size, at most flush_seconds after the first one; an
        empty list after flush_seconds without one (so retention and stop are seen)."""
        rows: list = []
        deadline = time.monotonic() + self.flush_seconds
        while len(rows) < self.batch_size and not self._stopping.is_set():
            # Sleep in slices and take what arrived in one go: waking for every event would hand
            # the GIL to this thread and back once per prediction, which costs the API more
            # CPU than writing the rows does (measured by `make bench`'s log-cost cells).
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._stopping.wait(min(left, TAKE_EVERY_SECONDS))
            if self.queue and not rows:
                deadline = time.monotonic() + self.flush_seconds
            rows += self._take(self.batch_size - len(rows))
        return rows

    def _take(self, most: int | None = None) -> list:
        """Queued rows, oldest first: up to `most`, or all."""
        queue = self.queue
        count = len(queue) if most is None else min(most, len(queue))
        return [queue.popleft() for _ in range(count)]

    def _write(self, rows: list) -> None:
        if not rows:
            return
        try:
            with self.engine.begin() as conn:
                self._ensure_schema(conn)
                self.rows.insert(conn, rows)
        except sa.exc.SQLAlchemyError as exc:
            self._schema_ready = False  # after an outage the database may be a new, empty one
            self._drop("db_error", len(rows))
            if not self._failing:
                reason = str(getattr(exc, "orig", exc)).splitlines()[0]
                log.warning("prediction log: cannot write to %s: %s", self.where, reason)
            self._failing = True
            return
        if self._failing:
            log.warning("prediction log: writing to %s again", self.where)
        self._schema_ready, self._failing = True, False
        self.written += len(rows)
        WRITTEN.inc(len(rows))

    def _ensure_schema(self, conn: sa.Connection) -> None:
        if not self._schema_ready:
            create_schema(conn)
            self._schema_ready = True

    def _drop(self, reason: str, rows: int) -> None:
        self.dropped += rows
        DROPPED.labels(reason).inc(rows)

    def _maybe_purge(self) -> None:
        if self.retention_days <= 0 or time.monotonic() < self._next_retention:
            return
        try:
            deleted = self.purge()
        except sa.exc.SQLAlchemyError:
            return  # the database is away: the next batch's failure is the one reported
        self._next_retention = time.monotonic() + RETENTION_EVERY_SECONDS
        if deleted:
            log.info(
                "prediction log: deleted %d rows older than %s days", deleted, self.retention_days
            )

    def purge(self, now: datetime | None = None) -> int:
        """Delete rows older than retention_days; the number deleted."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=self.retention_days)
        with self.engine.begin() as conn:
            self._ensure_schema(conn)
            result = conn.execute(prediction_log.delete().where(prediction_log.c.ts < cutoff))
        return result.rowcount or 0

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, stop the writer, release the connections."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        elif self._thread.ident is None:  # never started: write here what was queued
            self._write(self._take())
        self.engine.dispose()
