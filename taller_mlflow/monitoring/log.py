"""The prediction log's writer: events in a bounded queue, rows out in batches, off the hot path.

`PredictionLog.observe(event)` is an observer of the data plane (taller_mlflow/serving/events.py):
it queues the event itself, bounded by rows (`queue_size`), and never blocks. The response path
does nothing per row: a daemon thread takes the queued events every TAKE_EVERY_SECONDS into a
columnar buffer (taller_mlflow.monitoring.inserts, C-level passes) and writes a batch when
`batch_size` rows are waiting or `flush_seconds` after the first one. While a batch is waiting it
writes without sleeping, so under a sustained load the writer keeps up instead of dropping.

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
from taller_mlflow.monitoring.migrate import SchemaError
from taller_mlflow.monitoring.schema import create_schema, prediction_log
from taller_mlflow.serving.watched import WatchedThread

log = logging.getLogger(__name__)

WRITTEN = Counter("prediction_log_written_total", "Prediction log rows inserted")
DROPPED = Counter(
    "prediction_log_dropped_total",
    "Prediction log rows dropped (reason: queue_full, db_error, error); the predictions still "
    "answered",
    ["reason"],
)
RETENTION_EVERY_SECONDS = 3600.0
TAKE_EVERY_SECONDS = 0.05  # how often a writer filling a batch looks at the queue
# Rows waiting to be written (queued or buffered), beyond which events drop: over a second of one
# worker's 100-row /predict batches (~30,000 rows/s on the bench's core) while the writer keeps
# up with ~1,500 rows a cycle, so a WAL checkpoint, the other worker's SQLite lock or a slow
# commit is absorbed, not dropped; at most ~12 MB of queued events.
QUEUE_ROWS = 50_000
BATCHES_PER_TRANSACTION = 20  # a backlog is written in transactions of up to 20 batches
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
        queue_size: int = QUEUE_ROWS,
        batch_size: int = 500,
        flush_seconds: float = 1.0,
        retention_days: float = 30,
        start: bool = True,
    ):
        self.where = sa.engine.make_url(url).render_as_string(hide_password=True)
        self.engine = make_engine(url)
        self.format = row_format(self.engine)
        # Events, not rows, in a deque, not a queue.Queue: append and popleft are atomic and the
        # writer polls, so the response path builds nothing, takes only the small lock below and
        # wakes no thread. The writer turns the events into rows within TAKE_EVERY_SECONDS, so
        # they die young (holding them for a whole batch kept ~2 KB per request alive and cost the
        # event loop cache misses and collector time).
        self.queue: collections.deque = collections.deque()
        self.queue_size = max(1, queue_size)
        self.batch_size, self.flush_seconds = max(1, batch_size), flush_seconds
        self.retention_days = retention_days
        self.written = self.dropped = 0  # this instance's, for tests and the bench
        # Rows accepted and neither written nor dropped yet (queued or in the writer's buffer):
        # what queue_size bounds. Several threads observe (the event loop, the scoring threads,
        # shadow scoring), so the check-and-add takes a lock.
        self._pending = 0
        self._lock = threading.Lock()
        self._buffer = self.format.buffer()
        self._deadline = 0.0  # when the buffered rows must be written, by flush_seconds
        self._schema_ready = False
        self._failing = False  # log a failure once per outage, not once per batch
        self._next_retention = 0.0
        # Watched: a writer that died (a bug, a BaseException) is restarted within a second and
        # counted in api_thread_restarts_total{thread="prediction-log"}; the buffer it held
        # stays with this object, so the new writer carries on with it.
        self._watched = WatchedThread(self._run, "prediction-log")
        self._stopping = self._watched.stopping
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
        self._watched.start()

    @property
    def alive(self) -> bool:
        return self._watched.alive

    @property
    def restarts(self) -> int:
        return self._watched.restarts

    # --- the hot path -------------------------------------------------------------------------
    def observe(self, event) -> None:
        rows = event.rows
        with self._lock:
            room = self._pending + rows <= self.queue_size
            if room:
                self._pending += rows
            else:
                self.dropped += rows
        if room:
            self.queue.append(event)
        else:
            DROPPED.labels("queue_full").inc(rows)

    @property
    def pending(self) -> int:
        """Rows accepted and not yet written nor dropped."""
        return self._pending

    # --- the writer thread --------------------------------------------------------------------
    def _run(self, _stopping: threading.Event) -> None:
        # The schema is brought to its latest revision (monitoring/migrate.py, under a lock) as
        # soon as the API is up, so readers (the drift job, a query) find the table before the
        # first batch; a database that is away now is retried at that batch.
        with contextlib.suppress(sa.exc.SQLAlchemyError, SchemaError), self.engine.begin() as conn:
            self._ensure_schema(conn)
        while not self._stopping.is_set():
            try:
                self._cycle()
                self._maybe_purge()
            except Exception:  # the writer must outlive any surprise
                log.exception("prediction log writer: unexpected error")
        self._flush_all()

    def _cycle(self) -> None:
        """Sleep unless a batch is waiting, take what arrived, write what is due."""
        if self._pending < self.batch_size:
            # Sleep in slices and take what arrived in one go: waking for every event would hand
            # the GIL to this thread and back once per prediction, which costs the API more
            # CPU than writing the rows does. A batch already waiting is written at once: under
            # a sustained load a sleep per batch capped the writer (10,000 rows/s at 500 rows
            # per 50 ms) and the queue dropped half of 100-row batches' rows.
            wait = TAKE_EVERY_SECONDS
            if self._buffer.rows:
                wait = min(wait, max(0.0, self._deadline - time.monotonic()))
            self._stopping.wait(wait)
        self._take_queued()
        rows = self._buffer.rows
        if rows >= self.batch_size:
            # whole batches only: every statement has the one cached shape; the rest joins the
            # next cycle's rows (or is written at its deadline)
            self._write(min(rows // self.batch_size, BATCHES_PER_TRANSACTION) * self.batch_size)
        elif rows and time.monotonic() >= self._deadline:
            self._write(rows)

    def _take_queued(self) -> None:
        """Move the queued events into the columnar buffer (their rows; the events are let go)."""
        queue, buffer = self.queue, self._buffer
        if queue and not buffer.rows:
            self._deadline = time.monotonic() + self.flush_seconds
        while queue:
            event = queue.popleft()
            try:
                buffer.add(event)
            except Exception:  # the buffer may hold part of it: drop the buffer and the event
                log.exception("prediction log: cannot encode an event; its batch is dropped")
                self._discard_buffer(event.rows)
                buffer = self._buffer

    def _flush_all(self) -> None:
        """Everything queued and buffered, in transactions of at most BATCHES_PER_TRANSACTION."""
        self._take_queued()
        most = BATCHES_PER_TRANSACTION * self.batch_size
        while self._buffer.rows:
            self._write(min(self._buffer.rows, most))

    def _discard_buffer(self, more: int = 0) -> None:
        rows = self._buffer.rows + more
        self._buffer = self.format.buffer()
        self._settle(dropped=rows, reason="error")

    def _write(self, count: int) -> None:
        """Write the buffer's first `count` rows in one transaction."""
        try:
            batch = self._buffer.take(count)
        except Exception:
            log.exception("prediction log: cannot encode a batch; it is dropped")
            self._discard_buffer()
            return
        rows = batch.rows
        if not rows:
            return
        try:
            with self.engine.begin() as conn:
                self._ensure_schema(conn)
                self.format.insert(conn, batch, self.batch_size)
        except (sa.exc.SQLAlchemyError, SchemaError, *self.format.driver_errors) as exc:
            self._schema_ready = False  # after an outage the database may be a new, empty one
            self._settle(dropped=rows, reason="db_error")
            if not self._failing:
                reason = str(getattr(exc, "orig", exc)).splitlines()[0]
                log.warning("prediction log: cannot write to %s: %s", self.where, reason)
            self._failing = True
            return
        except Exception:
            log.exception("prediction log: cannot write a batch; it is dropped")
            self._settle(dropped=rows, reason="error")
            return
        if self._failing:
            log.warning("prediction log: writing to %s again", self.where)
        self._schema_ready, self._failing = True, False
        self._settle(written=rows)

    def _settle(self, written: int = 0, dropped: int = 0, reason: str = "") -> None:
        with self._lock:
            self._pending -= written + dropped
            self.dropped += dropped
        self.written += written
        if written:
            WRITTEN.inc(written)
        if dropped:
            DROPPED.labels(reason).inc(dropped)

    def _ensure_schema(self, conn: sa.Connection) -> None:
        if not self._schema_ready:
            create_schema(conn)
            self._schema_ready = True

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
        if self._watched.started:
            self._watched.stop(timeout)
        else:  # never started: write here what was queued
            self._flush_all()
        self.engine.dispose()
