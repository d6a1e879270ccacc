"""The SQLite fast path writes what SQLAlchemy's own insert writes: the same events through both,
into two real SQLite files, read back through SQLAlchemy, give equal rows (timestamps, JSON
probabilities and booleans included), whatever kind of event they came from. The writer's
columnar buffer gives its rows in order, whole or a batch at a time; the probabilities' JSON made
for all rows at once is orjson's own text of each row's {class: p}."""

import sqlite3
from datetime import UTC, datetime

import numpy as np
import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from taller_mlflow.monitoring import inserts
from taller_mlflow.monitoring.log import make_engine
from taller_mlflow.monitoring.schema import create_schema, prediction_log
from taller_mlflow.penguins import FEATURES
from taller_mlflow.serving.events import Prediction
from tests.support import ADELIE, GENTOO

CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
TS = datetime(2026, 11, 27, 1, 2, 3, 456789, tzinfo=UTC)
COMMON = {
    "request_id": "r1",
    "model_name": "modelo_penguins",
    "model_version": "2",
    "latency_ms": 0.75,
    "ts": TS,
    "classes": CLASSES,
}


def columns_event(rows: int = 2, **extra) -> dict:
    return COMMON | {
        "endpoint": "/invocations",
        "model_alias": None,
        "features": {
            "island": np.asarray(["Biscoe"] * rows, dtype=object),
            "sex": np.asarray(["FEMALE"] * rows, dtype=object),
            "culmen_length_mm": np.arange(40, 40 + rows, dtype=np.float64),
            "culmen_depth_mm": np.full(rows, 15.5),
            "flipper_length_mm": np.full(rows, 220.0),
            "body_mass_g": np.full(rows, 5200.0),
        },
        "labels": ["Gentoo"] * rows,
        "proba": np.tile([0.01, 0.02, 0.97], (rows, 1)),
        **extra,
    }


def every_kind() -> list:
    penguins = [ADELIE, GENTOO]
    return [
        Prediction(  # /predict's: the validated values as lists
            **COMMON,
            endpoint="/predict",
            model_alias="production",
            features={c: [p[c] for p in penguins] for c in FEATURES},
            labels=["Adelie", "Gentoo"],
            proba=np.array([[0.97, 0.02, 0.01], [0.0, 0.0, 1.0]]),
        ),
        Prediction(**columns_event()),
        Prediction(
            **columns_event(endpoint="shadow", model_version="3", model_alias="challenger"),
            agrees=[True, False],
        ),
    ]


def written(tmp_path, name: str, fmt: inserts.RowFormat, events: list) -> list[tuple]:
    engine = make_engine(f"sqlite:///{tmp_path / name}")  # the log's own engine
    buffer = fmt.buffer()  # the writer's columnar buffer
    for event in events:
        buffer.add(event)
    batch = buffer.take()
    assert batch.rows == sum(e.rows for e in events) and buffer.rows == 0
    with engine.begin() as conn:
        create_schema(conn)
        assert fmt.insert(conn, batch, inserts.MAX_ROWS_PER_STATEMENT) == batch.rows
    with engine.connect() as conn:
        query = sa.select(*[prediction_log.c[c] for c in inserts.COLUMNS])
        rows = [tuple(r) for r in conn.execute(query.order_by(prediction_log.c.id))]
    engine.dispose()
    return rows


def stored(path) -> list[tuple]:
    """The values as SQLite holds them: queries compare these (a time window compares text)."""
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT {', '.join(inserts.COLUMNS)} FROM prediction_log").fetchall()


def test_the_sqlite_fast_path_stores_and_reads_back_like_sqlalchemys_insert(tmp_path):
    fast = written(tmp_path, "fast.db", inserts.SQLITE, every_kind())
    core = written(tmp_path, "core.db", inserts.CORE, every_kind())
    assert fast == core
    assert stored(tmp_path / "fast.db") == stored(tmp_path / "core.db")
    assert len(fast) == 6
    by_column = dict(zip(inserts.COLUMNS, zip(*fast, strict=True), strict=True))
    assert set(by_column["ts"]) == {TS.replace(tzinfo=None)}  # SQLite keeps UTC, naive
    assert by_column["island"][:2] == ("Torgersen", "Biscoe")
    assert by_column["probabilities"][0] == {"Adelie": 0.97, "Chinstrap": 0.02, "Gentoo": 0.01}
    assert by_column["agrees"] == (None, None, None, None, True, False)
    assert by_column["endpoint"] == ("/predict",) * 2 + ("/invocations",) * 2 + ("shadow",) * 2


@pytest.mark.parametrize("per_statement", [1, 7, 500])
def test_a_batch_larger_than_one_statement_is_written_whole(tmp_path, monkeypatch, per_statement):
    monkeypatch.setattr(inserts, "MAX_ROWS_PER_STATEMENT", per_statement)
    events = [Prediction(**columns_event(rows=n, request_id=f"r{n}")) for n in (1, 9, 10)]
    rows = written(tmp_path, "many.db", inserts.SQLITE, events)
    column = {c: [r[i] for r in rows] for i, c in enumerate(inserts.COLUMNS)}
    assert column["request_id"] == ["r1"] + ["r9"] * 9 + ["r10"] * 10
    assert column["culmen_length_mm"] == [40.0, *range(40, 49), *range(40, 50)]
    assert column["island"] == ["Biscoe"] * 20


def test_the_rows_view_of_a_predict_event_gives_the_same_columns(tmp_path):
    """Shadow scoring reads /predict's event as columns: they are the penguins', in order."""
    event = every_kind()[0]
    assert list(event.features["island"]) == ["Torgersen", "Biscoe"]
    assert list(event.features["body_mass_g"]) == [ADELIE["body_mass_g"], GENTOO["body_mass_g"]]
    assert event.proba.shape == (2, 3) and event.proba.argmax(axis=1).tolist() == [0, 2]


@pytest.mark.parametrize("micro", [0, 1, 456789])
def test_timestamps_are_stored_as_sqlalchemys_sqlite_datetime_text(micro):
    dialect = sqlite.dialect()
    sqlalchemys = prediction_log.c.ts.type.dialect_impl(dialect).bind_processor(dialect)
    ts = TS.replace(microsecond=micro)
    assert inserts._sqlite_ts(ts) == sqlalchemys(ts)


def test_logged_probabilities_are_rounded_like_predicts_answer():
    """onnxruntime answers float32: the log keeps 6 decimals, never 1.0000001192092896."""
    proba = np.asarray([[1.0, 0.0, 0.0], [0.1234567, 0.3, 0.5765433]], dtype=np.float32)
    event = Prediction(**columns_event(proba=proba))
    assert event.probability_maps() == [
        {"Adelie": 1.0, "Chinstrap": 0.0, "Gentoo": 0.0},
        {"Adelie": 0.123457, "Chinstrap": 0.3, "Gentoo": 0.576543},
    ]


ODD_CLASSES = ['say "hi"', "100%s", "back\\slash", "tab\there", "niño", "%"]


@pytest.mark.parametrize("classes", [CLASSES, ODD_CLASSES[:3], ODD_CLASSES])
def test_the_probabilities_text_of_all_rows_at_once_is_orjsons_text_of_each_rows_map(classes):
    rng = np.random.default_rng(len(classes))
    proba = rng.dirichlet(np.ones(len(classes)), 50).astype(np.float32)
    proba[0] = 0.0
    proba[1, 0] = 1.0
    proba[2, 0] = 1e-7  # rounds to 0; and a tiny one that does not
    proba[3, 0] = 2e-6
    halves = [proba[:20], proba[20:]]  # two events' arrays, stacked by the writer
    rounded = np.round(proba.astype(np.float64), 6).tolist()
    expected = [orjson.dumps(dict(zip(classes, row, strict=True))).decode() for row in rounded]
    assert inserts.probability_texts(classes, halves) == expected


def test_a_batch_of_events_with_different_class_sets_keeps_each_rows_probabilities(tmp_path):
    two = Prediction(
        **columns_event(rows=3, request_id="two", classes=["Adelie", "Gentoo"]),
    )
    two.proba = np.tile([0.25, 0.75], (3, 1))
    events = [Prediction(**columns_event(rows=2)), two, Prediction(**columns_event(rows=1))]
    fast = written(tmp_path, "fast.db", inserts.SQLITE, events)
    assert fast == written(tmp_path, "core.db", inserts.CORE, events)
    probabilities = [row[inserts.COLUMNS.index("probabilities")] for row in fast]
    three = {"Adelie": 0.01, "Chinstrap": 0.02, "Gentoo": 0.97}
    assert probabilities == [three] * 2 + [{"Adelie": 0.25, "Gentoo": 0.75}] * 3 + [three]


@pytest.mark.parametrize("fmt", [inserts.SQLITE, inserts.CORE])
def test_a_take_gives_the_first_rows_and_keeps_the_rest_in_order(fmt):
    buffer = fmt.buffer()
    for n in (3, 4, 5):
        buffer.add(Prediction(**columns_event(rows=n, request_id=f"r{n}")))
    first = buffer.take(5)
    assert (first.rows, buffer.rows) == (5, 7)
    buffer.add(Prediction(**columns_event(rows=2, request_id="late")))
    rest = buffer.take()
    assert (rest.rows, buffer.rows) == (9, 0)
    request_ids = [*first.columns[1], *rest.columns[1]]
    assert request_ids == ["r3"] * 3 + ["r4"] * 4 + ["r5"] * 5 + ["late"] * 2
    for batch in (first, rest):
        assert {len(column) for column in batch.columns} == {batch.rows}


def test_sqlite_keeps_only_the_ts_index_and_drops_the_others_from_an_older_file(tmp_path):
    """The SQLite log pays for the one index its readers need (taller_mlflow/monitoring/schema.py)."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # a log file from before, with all three indexes
        conn.execute("CREATE TABLE t (x)")
        for name, column in [
            ("ix_prediction_log_request_id", "x"),
            ("ix_prediction_log_model_ts", "x"),
        ]:
            conn.execute(f"CREATE INDEX {name} ON t ({column})")
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        create_schema(conn)
    engine.dispose()
    with sqlite3.connect(path) as conn:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {i for i in indexes if i.startswith("ix_")} == {"ix_prediction_log_ts"}
