"""The prediction log's writer over a real SQLite file: batches by size and by time, drops a full
queue's events and a failed batch (counted), resumes by itself, flushes on close, purges old rows."""

import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from taller_mlflow.monitoring.inserts import COLUMNS
from taller_mlflow.monitoring.log import PredictionLog
from taller_mlflow.monitoring.schema import prediction_log
from taller_mlflow.penguins import FEATURES
from taller_mlflow.serving.events import Prediction
from tests.support import wait_for

CLASSES = ["Adelie", "Chinstrap", "Gentoo"]


def event(rows: int = 1, request_id: str = "r1", ts: datetime | None = None) -> Prediction:
    proba = np.tile([0.8, 0.15, 0.05], (rows, 1))
    return Prediction(
        request_id=request_id,
        endpoint="/invocations",
        model_name="modelo_penguins",
        model_version="2",
        model_alias="production",
        features={
            "island": np.asarray(["Torgersen"] * rows, dtype=object),
            "sex": np.asarray(["MALE"] * rows, dtype=object),
            "culmen_length_mm": np.arange(1, rows + 1, dtype=np.float64),
            "culmen_depth_mm": np.full(rows, 18.7),
            "flipper_length_mm": np.full(rows, 181.0),
            "body_mass_g": np.full(rows, 3750.0),
        },
        labels=["Adelie"] * rows,
        proba=proba,
        classes=CLASSES,
        latency_ms=1.5,
        ts=ts or datetime.now(UTC),
    )


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'monitoring.db'}"


@pytest.fixture
def make_log():
    made = []

    def make(url: str, **options) -> PredictionLog:
        made.append(PredictionLog(url, **{"flush_seconds": 0.05, **options}))
        return made[-1]

    yield make
    for log in made:
        log.close()


def count(url: str, where=None) -> int:
    query = sa.select(sa.func.count()).select_from(prediction_log)
    if where is not None:
        query = query.where(where)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(query).scalar_one()
    except sa.exc.OperationalError:  # not created yet
        return 0
    finally:
        engine.dispose()


def dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("prediction_log_dropped_total", {"reason": reason}) or 0.0


def count_inserts(log: PredictionLog) -> list[int]:
    """The row count of every INSERT the log's engine sends (a multi-row INSERT's parameters are
    its rows' values, one after the other)."""
    inserts = []

    def seen(_conn, _cursor, statement, parameters, _context, executemany):
        if statement.startswith("INSERT INTO prediction_log "):  # not the schema version's
            inserts.append(len(parameters) if executemany else len(parameters) // len(COLUMNS))

    sa.event.listen(log.engine, "before_cursor_execute", seen)
    return inserts


def test_the_table_exists_once_the_writer_starts_before_any_prediction(make_log, url):
    """Readers (the drift job, a query) find an empty table, not an error, on a fresh API."""
    make_log(url, flush_seconds=60)
    engine = sa.create_engine(url)

    def table():
        return "prediction_log" in sa.inspect(engine).get_table_names()

    try:
        assert wait_for(table, timeout=5, interval=0.02)
    finally:
        engine.dispose()
    assert count(url) == 0


def test_rows_carry_the_event(make_log, url):
    log = make_log(url)
    log.observe(event(rows=3, request_id="abc"))
    assert wait_for(lambda: count(url) == 3, timeout=5, interval=0.02)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = (
            conn.execute(sa.select(prediction_log).order_by(prediction_log.c.id)).mappings().all()
        )
    engine.dispose()
    assert [r["culmen_length_mm"] for r in rows] == [1.0, 2.0, 3.0]
    first = rows[0]
    assert {c: first[c] for c in FEATURES} == {
        "island": "Torgersen",
        "sex": "MALE",
        "culmen_length_mm": 1.0,
        "culmen_depth_mm": 18.7,
        "flipper_length_mm": 181.0,
        "body_mass_g": 3750.0,
    }
    assert (first["request_id"], first["endpoint"], first["prediction"]) == (
        "abc",
        "/invocations",
        "Adelie",
    )
    assert (first["model_name"], first["model_version"], first["model_alias"]) == (
        "modelo_penguins",
        "2",
        "production",
    )
    assert first["probabilities"] == {"Adelie": 0.8, "Chinstrap": 0.15, "Gentoo": 0.05}
    assert first["latency_ms"] == 1.5 and first["agrees"] is None


def test_shadow_rows_record_whether_each_row_agrees_with_production(make_log, url):
    from dataclasses import asdict

    base = asdict(event(rows=2, request_id="s1")) | {"endpoint": "shadow", "model_version": "3"}
    make_log(url).observe(Prediction(**base | {"agrees": [True, False]}))
    assert wait_for(lambda: count(url) == 2, timeout=5, interval=0.02)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        query = sa.select(prediction_log.c.endpoint, prediction_log.c.agrees)
        rows = conn.execute(query.order_by(prediction_log.c.id)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("shadow", True), ("shadow", False)]


def test_a_full_batch_is_written_at_once_in_one_insert(make_log, url):
    log = make_log(url, batch_size=20, flush_seconds=60, start=False)
    inserts = count_inserts(log)
    for _ in range(20):
        log.observe(event())
    log.start()
    assert wait_for(lambda: count(url) == 20, timeout=10, interval=0.02)  # long before 60 s
    assert inserts == [20]


def test_a_partial_batch_is_written_after_flush_seconds(make_log, url):
    log = make_log(url, batch_size=1000, flush_seconds=0.2)
    inserts = count_inserts(log)
    for _ in range(3):
        log.observe(event(rows=2))
    assert wait_for(lambda: count(url) == 6, timeout=5, interval=0.02)
    assert sum(inserts) == 6 and len(inserts) <= 3


def test_a_full_queue_drops_and_counts_the_rest(make_log, url):
    before = dropped("queue_full")
    log = make_log(url, queue_size=5, start=False)  # rows
    for _ in range(5):
        log.observe(event(rows=2))
    assert (log.dropped, dropped("queue_full") - before) == (6, 6)  # the third event has no room
    log.close()
    assert count(url) == 4 and log.written == 4


def test_a_database_outage_drops_batches_and_writing_resumes_by_itself(make_log, tmp_path):
    url = f"sqlite:///{tmp_path / 'not-yet' / 'monitoring.db'}"  # cannot be opened: no folder
    before = dropped("db_error")
    log = make_log(url)
    log.observe(event(rows=4))
    assert wait_for(lambda: log.dropped == 4, timeout=5, interval=0.02)
    assert dropped("db_error") - before == 4
    (tmp_path / "not-yet").mkdir()  # the database is back
    assert wait_for(lambda: log.observe(event()) or count(url) > 0, timeout=5, interval=0.05)
    # a database that lost the table: that batch drops, the next one re-creates the schema
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE prediction_log"))
    engine.dispose()
    dropped_before = log.dropped
    assert wait_for(lambda: log.observe(event()) or count(url) > 0, timeout=5, interval=0.05)
    assert log.dropped > dropped_before


def test_close_writes_what_is_queued(make_log, url):
    log = make_log(url, batch_size=10_000, flush_seconds=60)
    for i in range(50):
        log.observe(event(rows=3, request_id=f"r{i}"))
    log.close()
    assert count(url) == 150 and log.written == 150 and log.dropped == 0


def test_retention_deletes_old_rows_at_start(make_log, url):
    now = datetime.now(UTC)
    filler = make_log(url, retention_days=0)
    filler.observe(event(rows=2, request_id="old", ts=now - timedelta(days=31)))
    filler.observe(event(rows=1, request_id="new", ts=now - timedelta(days=29)))
    filler.close()
    assert count(url) == 3
    make_log(url, retention_days=30)
    old = prediction_log.c.request_id == "old"
    assert wait_for(lambda: count(url, old) == 0, timeout=5, interval=0.02)
    assert count(url) == 1


def test_purge_is_relative_to_now(make_log, url):
    now = datetime.now(UTC)
    log = make_log(url, retention_days=7, start=False)
    log.observe(event(rows=1, ts=now - timedelta(days=3)))
    log.close()
    assert log.purge(now=now) == 0
    assert log.purge(now=now + timedelta(days=5)) == 1
    assert count(url) == 0


def test_the_writer_writes_every_waiting_batch_without_sleeping_between_them(make_log, url):
    """Under a sustained load the writer keeps up: it sleeps only when less than a batch waits
    (a sleep per batch capped it at 10,000 rows/s and the queue dropped rows)."""
    log = make_log(url, batch_size=100, flush_seconds=60, start=False)
    for i in range(50):
        log.observe(event(rows=100, request_id=f"r{i}"))  # 50 batches waiting
    written_at_each_sleep = []
    wait = log._stopping.wait

    def sleeping(timeout=None):
        written_at_each_sleep.append(log.written)
        return wait(timeout)

    log._stopping.wait = sleeping
    log.start()
    assert wait_for(lambda: log.written == 5000, timeout=30, interval=0.05)
    assert set(written_at_each_sleep) <= {5000}  # no sleep before the last batch was written
    assert (count(url), log.dropped, log.pending) == (5000, 0, 0)


def test_every_row_observed_from_several_threads_lands_once_and_in_order(make_log, url):
    """Rows pushed through observe() while the writer runs all land: none dropped, none twice,
    each request's rows in order."""
    log = make_log(url, batch_size=500, queue_size=1_000_000)

    def produce(thread: int) -> None:
        for i in range(100):
            log.observe(event(rows=1 + i % 50, request_id=f"t{thread}-{i}"))

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = 4 * sum(1 + i % 50 for i in range(100))
    log.close()
    assert (log.written, log.dropped, log.pending) == (expected, 0, 0)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        query = sa.select(prediction_log.c.request_id, prediction_log.c.culmen_length_mm)
        rows = conn.execute(query.order_by(prediction_log.c.id)).all()
    engine.dispose()
    assert len(rows) == expected
    by_request: dict[str, list[float]] = {}
    for request_id, length in rows:
        by_request.setdefault(request_id, []).append(length)
    assert len(by_request) == 400
    for request_id, lengths in by_request.items():
        n = 1 + int(request_id.split("-")[1]) % 50
        assert lengths == [float(x) for x in range(1, n + 1)], request_id


def test_an_event_that_cannot_be_encoded_drops_its_rows_and_the_writer_goes_on(make_log, url):
    before = dropped("error")
    log = make_log(url, start=False)
    broken = event(rows=2, request_id="broken")
    broken.features["sex"] = broken.features["sex"][:1]  # one value for two rows
    log.observe(event(rows=3, request_id="before"))
    log.observe(broken)
    log.close()
    assert log.dropped == 3 + 2 and dropped("error") - before == 5  # its batch went with it
    fresh = make_log(url)
    fresh.observe(event(rows=2, request_id="after"))
    assert wait_for(lambda: count(url, prediction_log.c.request_id == "after") == 2, timeout=5)
    assert fresh.pending == 0 or wait_for(lambda: fresh.pending == 0, timeout=5, interval=0.02)


class WriterKilled(BaseException):
    """Escapes the writer's `except Exception`, as a bug in its loop itself would."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_writer_that_dies_is_restarted_counted_and_keeps_writing(make_log, url, monkeypatch):
    log = make_log(url, batch_size=1, flush_seconds=0.01, start=False)
    log._watched.watch_seconds = 0.01
    real, calls = log._cycle, []

    def dies_once():
        calls.append(1)
        if len(calls) == 1:
            raise WriterKilled
        real()

    monkeypatch.setattr(log, "_cycle", dies_once)
    labels = {"thread": "prediction-log"}
    before = REGISTRY.get_sample_value("api_thread_restarts_total", labels) or 0
    log.start()
    log.observe(event(rows=3, request_id="after-death"))
    assert wait_for(lambda: count(url) == 3, timeout=10, interval=0.02)
    assert log.restarts == 1 and log.alive
    assert REGISTRY.get_sample_value("api_thread_restarts_total", labels) == before + 1
