"""The prediction log's schema under Alembic (taller_mlflow/monitoring/migrate.py), on SQLite and
on a real PostgreSQL database, each holding rows written by the real writer:

- a log made before migrations existed (`create_all`, no version table) is adopted: stamped at
  the first revision, its rows untouched, and written to again;
- a new revision adding a column (made here, in a copy of the package's migrations) upgrades a
  log holding rows: the column is there, the old rows keep their values with NULL in it, and the
  writer of the release before (this code, which does not know that revision) keeps writing;
- two upgrades racing on one empty database create the table once.
"""

import shutil
import threading
from datetime import UTC, datetime

import numpy as np
import pytest
import sqlalchemy as sa

from taller_mlflow.monitoring import migrate
from taller_mlflow.monitoring.log import PredictionLog
from taller_mlflow.monitoring.schema import create_schema, metadata, prediction_log
from taller_mlflow.serving.events import Prediction
from tests.support.services import PG_URL_BASE, create_pg_database, drop_pg_database

NEW_REVISION = '''"""A column the next release needs.

Revision ID: 0099
Revises: {down}
"""

import sqlalchemy as sa
from alembic import op

revision = "0099"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("prediction_log", sa.Column("worker", sa.String(64), nullable=True))
'''


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'monitoring.db'}"
        return
    database = create_pg_database(prefix="prediction_log_migrations")
    yield f"{PG_URL_BASE}/{database}"
    drop_pg_database(database)


def event(request_id: str, rows: int = 2) -> Prediction:
    return Prediction(
        request_id=request_id,
        endpoint="/predict",
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
        proba=np.tile([0.8, 0.15, 0.05], (rows, 1)),
        classes=["Adelie", "Chinstrap", "Gentoo"],
        latency_ms=1.5,
        ts=datetime.now(UTC),
    )


def write(url: str, *request_ids: str) -> None:
    """Rows through the real writer: it starts (migrating), writes, and closes."""
    log = PredictionLog(url, batch_size=1000, flush_seconds=60)
    for request_id in request_ids:
        log.observe(event(request_id))
    log.close()
    assert log.dropped == 0 and log.written == 2 * len(request_ids)


def rows(url: str, *columns: str) -> list[tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        query = f"SELECT {', '.join(columns)} FROM prediction_log ORDER BY id"
        found = [tuple(r) for r in conn.execute(sa.text(query))]
    engine.dispose()
    return found


def revision(url: str) -> str | None:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = migrate.current(conn)
    engine.dispose()
    return found


def test_a_log_made_before_migrations_is_adopted_with_its_rows(url):
    engine = sa.create_engine(url)
    metadata.create_all(engine)  # what create_schema did before Alembic
    with engine.begin() as conn:
        values = {c.name: None for c in prediction_log.c if c.name != "id"}
        old = dict(values, ts=datetime.now(UTC), request_id="before", endpoint="/predict")
        old |= {"model_name": "m", "model_version": "1", "island": "Biscoe", "sex": "MALE"}
        old |= {"culmen_length_mm": 1.0, "culmen_depth_mm": 2.0, "flipper_length_mm": 3.0}
        old |= {"body_mass_g": 4.0, "prediction": "Adelie", "probabilities": {}, "latency_ms": 1}
        conn.execute(prediction_log.insert(), [old])
    engine.dispose()
    assert revision(url) is None
    write(url, "after")
    assert revision(url) == migrate.head()
    assert rows(url, "request_id") == [("before",), ("after",), ("after",)]


def test_a_revision_adding_a_column_upgrades_a_log_holding_rows(url, tmp_path):
    write(url, "old-1", "old-2")
    assert revision(url) == migrate.head()
    newer = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, newer, ignore=shutil.ignore_patterns("__pycache__"))
    (newer / "versions" / "0099_worker.py").write_text(NEW_REVISION.format(down=migrate.head()))

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        assert migrate.upgrade(conn, newer) == "0099"
    engine.dispose()
    assert revision(url) == "0099"
    assert rows(url, "request_id", "worker") == [("old-1", None)] * 2 + [("old-2", None)] * 2
    write(url, "during-the-rolling-update")  # this release does not know 0099, and still writes
    assert revision(url) == "0099"
    assert rows(url, "request_id")[-2:] == [("during-the-rolling-update",)] * 2


def test_two_upgrades_racing_on_an_empty_log_create_it_once(url):
    engines = [sa.create_engine(url), sa.create_engine(url)]
    barrier, errors = threading.Barrier(2), []

    def upgrade(engine):
        try:
            barrier.wait(timeout=30)
            create_schema(engine)
        except Exception as exc:  # noqa: BLE001 - the test asserts there is none
            errors.append(exc)

    threads = [threading.Thread(target=upgrade, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for engine in engines:
        engine.dispose()
    assert errors == []
    assert revision(url) == migrate.head()
    write(url, "first")
    assert rows(url, "request_id") == [("first",)] * 2
