"""The prediction log on a real PostgreSQL (the stack's database) through psycopg2: its COPY
writes what SQLAlchemy Core's insert writes, read back through SQLAlchemy (timestamps, JSON
probabilities as text and as values, booleans, NULLs), whatever the strings hold; the writer lands
every row observed, keeps all three indexes there, and a COPY the database refuses drops its
batch (counted) and the next one re-creates the table."""

from datetime import UTC, datetime

import numpy as np
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from taller_mlflow.monitoring import inserts
from taller_mlflow.monitoring.log import PredictionLog, make_engine
from taller_mlflow.monitoring.schema import create_schema, prediction_log
from taller_mlflow.penguins import FEATURES
from taller_mlflow.serving.events import Prediction
from tests.support import ADELIE, GENTOO, wait_for
from tests.support.services import PG_URL_BASE, create_pg_database, drop_pg_database

CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
ODD_CLASSES = ['say "hi"', "100%s", "back\\slash", "tab\there", "niño"]


@pytest.fixture
def pg_url():
    name = create_pg_database(prefix="prediction_log_copy")
    yield f"{PG_URL_BASE}/{name}"
    drop_pg_database(name)


def event(rows=2, classes=CLASSES, agrees=None, **fields) -> Prediction:
    rng = np.random.default_rng(rows)
    values = {
        "request_id": "r1",
        "endpoint": "/invocations",
        "model_name": "modelo_penguins",
        "model_version": "2",
        "model_alias": None,
        "features": {
            "island": np.asarray(["Biscoe"] * rows, dtype=object),
            "sex": np.asarray(["FEMALE"] * rows, dtype=object),
            "culmen_length_mm": 40 + rng.random(rows),
            "culmen_depth_mm": np.full(rows, 15.5),
            "flipper_length_mm": np.full(rows, 220.0),
            "body_mass_g": np.full(rows, 5200.0),
        },
        "labels": [classes[-1]] * rows,
        "proba": rng.dirichlet(np.ones(len(classes)), rows).astype(np.float32),
        "classes": classes,
        "latency_ms": 0.75,
        "ts": datetime(2026, 11, 27, 1, 2, 3, 456789, tzinfo=UTC),
        "agrees": agrees,
    }
    return Prediction(**values | fields)


def every_kind() -> list[Prediction]:
    penguins = [ADELIE, GENTOO]
    predict = event(
        endpoint="/predict",
        model_alias="production",
        features={c: [p[c] for p in penguins] for c in FEATURES},  # /predict's lists
        labels=["Adelie", "Gentoo"],
        proba=np.array([[0.97, 0.02, 0.01], [0.0, 0.0, 1.0]], dtype=np.float32),
    )
    odd = event(
        rows=3,
        classes=ODD_CLASSES,
        request_id="tab\there\\back%s\nnew",
        model_alias="alías",
        ts=datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC),  # no microseconds
    )
    odd.features["island"] = np.asarray(["Dream", "a\tb", "c\\d"], dtype=object)
    return [
        predict,
        event(rows=1),
        event(rows=4, endpoint="shadow", model_version="3", agrees=[True, False, True, True]),
        odd,
        event(rows=5, classes=["Adelie", "Gentoo"], request_id="two classes"),
    ]


def written(url: str, fmt: inserts.RowFormat, events: list, most: int | None = None) -> list:
    engine = make_engine(url)  # the log's own engine
    buffer = fmt.buffer()
    for e in events:
        buffer.add(e)
    with engine.begin() as conn:
        create_schema(conn)
        while buffer.rows:
            fmt.insert(conn, buffer.take(most), 500)
    columns = [prediction_log.c[c] for c in inserts.COLUMNS]
    text = [sa.cast(prediction_log.c.probabilities, sa.Text), sa.cast(prediction_log.c.ts, sa.Text)]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns, *text).order_by(prediction_log.c.id)).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_copy_writes_what_sqlalchemys_insert_writes(pg_url):
    copy = inserts.row_format(make_engine(pg_url))
    assert copy.buffer is inserts.CopyColumns  # psycopg2: the COPY path
    name = create_pg_database(prefix="prediction_log_core")
    try:
        core = written(f"{PG_URL_BASE}/{name}", inserts.CORE, every_kind())
    finally:
        drop_pg_database(name)
    fast = written(pg_url, copy, every_kind())
    assert fast == core
    assert len(fast) == 2 + 1 + 4 + 3 + 5
    by_column = dict(
        zip([*inserts.COLUMNS, "json", "ts_text"], zip(*fast, strict=True), strict=True)
    )
    assert by_column["request_id"][7:10] == ("tab\there\\back%s\nnew",) * 3
    assert by_column["island"][7:10] == ("Dream", "a\tb", "c\\d")
    assert (
        by_column["model_alias"][:2] == ("production",) * 2 and by_column["model_alias"][2] is None
    )
    assert by_column["agrees"][:7] == (None,) * 3 + (True, False, True, True)
    assert by_column["probabilities"][0] == {"Adelie": 0.97, "Chinstrap": 0.02, "Gentoo": 0.01}
    assert set(by_column["probabilities"][7]) == set(ODD_CLASSES)
    assert set(by_column["probabilities"][10]) == {"Adelie", "Gentoo"}
    assert by_column["json"][0] == '{"Adelie":0.97,"Chinstrap":0.02,"Gentoo":0.01}'  # orjson's
    assert by_column["ts"][0] == datetime(2026, 11, 27, 1, 2, 3, 456789, tzinfo=UTC)


def test_copy_takes_whole_events_a_batch_at_a_time_in_order(pg_url):
    rows = written(pg_url, inserts.row_format(make_engine(pg_url)), every_kind(), most=3)
    assert len(rows) == 15
    request_ids = [r[1] for r in rows]
    assert request_ids[:2] == ["r1", "r1"] and request_ids[-5:] == ["two classes"] * 5


def dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("prediction_log_dropped_total", {"reason": reason}) or 0.0


def count(engine, where=None) -> int:
    query = sa.select(sa.func.count()).select_from(prediction_log)
    with engine.connect() as conn:
        return conn.execute(query if where is None else query.where(where)).scalar_one()


def test_the_writer_lands_every_row_and_postgresql_keeps_all_three_indexes(pg_url):
    log = PredictionLog(pg_url, batch_size=100, flush_seconds=0.05)
    sizes = [1 + i % 37 for i in range(300)]
    for i, n in enumerate(sizes):
        log.observe(event(rows=n, request_id=f"r{i}"))
    log.close()
    assert (log.written, log.dropped, log.pending) == (sum(sizes), 0, 0)
    engine = sa.create_engine(pg_url)
    try:
        assert count(engine) == sum(sizes)
        indexes = {i["name"] for i in sa.inspect(engine).get_indexes("prediction_log")}
    finally:
        engine.dispose()
    assert indexes == {
        "ix_prediction_log_ts",
        "ix_prediction_log_model_ts",
        "ix_prediction_log_request_id",
    }


def test_a_copy_the_database_refuses_drops_its_batch_and_the_next_recreates_the_table(pg_url):
    before = dropped("db_error")
    log = PredictionLog(pg_url, flush_seconds=0.05)
    engine = sa.create_engine(pg_url)
    try:
        log.observe(event(rows=2, request_id="first"))
        assert wait_for(lambda: log.written == 2, timeout=10, interval=0.05)
        with engine.begin() as conn:  # the table goes away under the writer
            conn.execute(sa.text("DROP TABLE prediction_log"))
        log.observe(event(rows=3, request_id="lost"))
        assert wait_for(lambda: log.dropped == 3, timeout=10, interval=0.05)
        assert dropped("db_error") - before == 3
        log.observe(event(rows=4, request_id="again"))
        assert wait_for(lambda: log.written == 6, timeout=10, interval=0.05)
        assert count(engine) == 4
    finally:
        log.close()
        engine.dispose()
