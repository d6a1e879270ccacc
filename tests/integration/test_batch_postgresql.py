"""Batch scoring into PostgreSQL (the stack's other database), in this process: the rows go
through SQLAlchemy's batched insert there (sqlite3 and PyMySQL take them directly), so this is
the path the unit tests do not cover. A real graph of a real fitted pipeline, no MLflow."""

from datetime import datetime

import pytest
import sqlalchemy as sa

from taller_mlflow.batch.batch_job import score_table
from taller_mlflow.batch.scorer import Graph, Job
from taller_mlflow.batch.survey import survey, write
from taller_mlflow.batch.writer import Stamp
from taller_mlflow.penguins import FEATURES, clean, read_csv
from taller_mlflow.promotion.onnx_export import to_onnx
from taller_mlflow.serving.manifest import sha256_hex
from taller_mlflow.training.model import build_pipeline
from tests.support.services import PG_URL_BASE, create_pg_database, drop_pg_database


@pytest.fixture(scope="module")
def pg_url():
    name = create_pg_database(prefix="batch_test")
    yield f"{PG_URL_BASE}/{name}"
    drop_pg_database(name)


@pytest.fixture(scope="module")
def fitted():
    penguins = clean(read_csv()).frame
    model = build_pipeline().set_params(classifier__n_estimators=5, classifier__max_depth=4)
    model.fit(penguins[FEATURES], penguins["species"])
    graph = to_onnx(model)
    return model, Graph(graph, tuple(model.classes_), sha256_hex(graph))


def test_a_survey_is_scored_into_postgresql_once_per_run_id(pg_url, fitted):
    import pandas as pd

    model, graph = fitted
    rows, spoiled = survey(5_000, 0.01, seed=3)
    write(pg_url, "penguins_new", rows)
    stamp = Stamp("pg-run", "modelo_penguins", "3", datetime(2026, 12, 3, 9))
    job = Job(pg_url, "penguins_new", "id", pg_url, "predictions_new", stamp)
    first = score_table(job, graph, 1_000, None, 1.0, 0.05)
    again = score_table(job, graph, 1_000, None, 1.0, 0.05)
    assert (first.rows, first.bad, again.rows) == (5_000, 50, 5_000)
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        query = sa.text("SELECT id, prediction, reason FROM predictions_new ORDER BY id")
        written = conn.execute(query).all()
    engine.dispose()
    assert len(written) == 5_000  # the re-run replaced, did not add
    assert [r.id for r in written if r.reason] == spoiled
    good = [r for r in written if not r.reason]
    by_id = {r["id"]: r for r in rows}
    expected = model.predict(pd.DataFrame([by_id[r.id] for r in good])[FEATURES])
    assert [r.prediction for r in good] == list(expected)
