"""Batch scoring in process (taller_mlflow/batch/): the bad-row rules and their reasons, the
idempotency key, the summary and its threshold, and a table scored into SQLite with a real ONNX
graph of a real fitted pipeline (no MLflow: the graph is built here, as the gate builds it)."""

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from taller_mlflow.batch import rows
from taller_mlflow.batch.batch_job import BatchResult, batch_run_id, score_table
from taller_mlflow.batch.reader import plan
from taller_mlflow.batch.scorer import Graph, Job
from taller_mlflow.batch.writer import RUN_ID, Stamp
from taller_mlflow.penguins import EXAMPLE_PENGUIN, FEATURES, clean, read_csv
from taller_mlflow.serving.manifest import sha256_hex
from taller_mlflow.stage import StageError

GOOD = {k: v for k, v in EXAMPLE_PENGUIN.items() if k in FEATURES}


def columns_of(penguins: list[dict]) -> dict[str, list]:
    return {c: [p[c] for p in penguins] for c in FEATURES}


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"island": None}, "island: missing"),
        ({"island": "Atlantis"}, "island: 'Atlantis' is not one of Biscoe, Dream, Torgersen"),
        ({"sex": "unknown"}, "sex: 'unknown' is not one of MALE, FEMALE"),
        ({"sex": 3}, "sex: expected a string, got 3"),
        ({"body_mass_g": None}, "body_mass_g: missing"),
        ({"body_mass_g": 20000.0}, "body_mass_g: 20000.0 is not a number with 0 < x <= 10000"),
        ({"culmen_depth_mm": -1.0}, "culmen_depth_mm: -1.0 is not a number with 0 < x <= 50"),
        ({"flipper_length_mm": "long"}, "flipper_length_mm: expected a number, got 'long'"),
        ({"island": "Atlantis", "body_mass_g": None}, "island: 'Atlantis' is not one of"),
    ],
)
def test_a_bad_row_gets_the_reason_of_its_first_bad_column(change, reason):
    penguins = [GOOD, {**GOOD, **change}, GOOD]
    _, reasons = rows.check(columns_of(penguins))
    assert list(reasons) == [1]
    assert reasons[1].startswith(reason)


def test_good_rows_pass_as_predict_takes_them():
    features, reasons = rows.check(columns_of([GOOD, {**GOOD, "sex": " female "}]))
    assert reasons == {}
    assert list(features["sex"]) == ["MALE", "FEMALE"]
    assert features["body_mass_g"].dtype == np.float64


def test_the_run_id_is_the_same_for_the_same_version_and_table():
    assert batch_run_id("m", "3", "penguins_new") == batch_run_id("m", "3", "penguins_new")
    assert batch_run_id("m", "3", "penguins_new") != batch_run_id("m", "4", "penguins_new")
    assert batch_run_id("m", "3", "t", given="survey-2026-12-03") == "survey-2026-12-03"
    with pytest.raises(StageError, match="run id"):
        batch_run_id("m", "3", "t", given="a b; drop table")


def result(bad: int, rows_: int = 1000, threshold: float = 0.05) -> BatchResult:
    return BatchResult("r1", "modelo_penguins/7", rows_, bad, 2, 0.5, "this process", threshold)


def test_the_threshold_is_a_share_and_only_more_than_it_fails():
    assert not result(50).too_many_bad  # exactly 5 %
    assert result(51).too_many_bad
    assert not result(0, rows_=0).too_many_bad


def test_summary_counts_rows_bad_rows_and_speed():
    text = result(10).summary()
    assert "1000 in 2 partitions, 990 scored, 10 bad (1.00%; threshold 5.00%)" in text
    assert "2,000 rows/s" in text and "modelo_penguins/7" in text


def test_partitions_cover_every_key_once():
    parts = plan(rows=10, low=5, high=104, rows_per_partition=3)
    assert parts[0].low == 5 and parts[-1].high == 105
    assert all(a.high == b.low for a, b in zip(parts, parts[1:], strict=False))
    assert len(parts) == 4 and plan(0, 0, 0, 10) == []


@pytest.fixture(scope="module")
def fitted():
    from taller_mlflow.promotion.onnx_export import to_onnx
    from taller_mlflow.training.model import build_pipeline

    penguins = clean(read_csv()).frame
    model = build_pipeline().set_params(classifier__n_estimators=5, classifier__max_depth=4)
    model.fit(penguins[FEATURES], penguins["species"])
    graph = to_onnx(model)
    return model, Graph(graph, tuple(model.classes_), sha256_hex(graph))


def input_table(url: str, penguins: list[dict]) -> None:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table(
        "penguins_new",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("island", sa.String(20)),
        sa.Column("sex", sa.String(20)),
        *(sa.Column(c, sa.Float) for c in FEATURES[2:]),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(table), [{"id": i + 1, **p} for i, p in enumerate(penguins)])


def test_a_table_is_scored_bad_rows_kept_with_reasons_and_a_rerun_adds_nothing(fitted, tmp_path):
    model, graph = fitted
    real = clean(read_csv()).frame[FEATURES].head(40).to_dict("records")
    penguins = (
        real[:20] + [{**GOOD, "island": "Atlantis"}, {**GOOD, "body_mass_g": None}] + real[20:]
    )
    url = f"sqlite:///{tmp_path / 'batch.db'}"
    input_table(url, penguins)
    stamp = Stamp("run-1", "modelo_penguins", "7", datetime(2026, 12, 3, 9, 0))
    job = Job(url, "penguins_new", "id", url, "predictions_new", stamp)
    first = score_table(job, graph, 7, None, 1.0, 0.05)
    assert (first.rows, first.bad, first.partitions) == (42, 2, 6)
    assert not first.too_many_bad  # 2 of 42 is 4.8 %

    written = read_output(url)
    assert len(written) == 42 and {r[RUN_ID] for r in written} == {"run-1"}
    bad = {r["id"]: r for r in written if r["reason"]}
    assert sorted(bad) == [21, 22]
    assert bad[21]["reason"].startswith("island: 'Atlantis'") and bad[21]["prediction"] is None
    assert bad[22]["reason"] == "body_mass_g: missing" and bad[22]["probability_adelie"] is None
    good = [r for r in written if not r["reason"]]
    expected = model.predict(pd.DataFrame(real))
    assert [r["prediction"] for r in good] == list(expected)
    sums = [sum(r[f"probability_{c.lower()}"] for c in graph.classes) for r in good]
    assert np.allclose(sums, 1.0)
    assert {(r["model_name"], r["model_version"]) for r in written} == {("modelo_penguins", "7")}

    again = score_table(job, graph, 7, None, 1.0, 0.05)
    assert again.rows == 42 and len(read_output(url)) == 42
    other = Job(
        url, "penguins_new", "id", url, "predictions_new", Stamp("run-2", "m", "8", stamp.scored_at)
    )
    score_table(other, graph, 100, None, 1.0, 0.05)
    assert len(read_output(url)) == 84  # another run id is another set of rows


def read_output(url: str) -> list[dict]:
    with sa.create_engine(url).connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(
                sa.text("SELECT * FROM predictions_new ORDER BY batch_run_id, id")
            )
        ]


def test_a_missing_table_or_column_is_one_line(fitted, tmp_path):
    _, graph = fitted
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    stamp = Stamp("r", "m", "1", datetime(2026, 12, 3))
    with pytest.raises(StageError, match="no table 'penguins_new'"):
        score_table(Job(url, "penguins_new", "id", url, "out", stamp), graph, 10, None, 1.0, 0.05)
    input_table(url, [GOOD])
    with pytest.raises(StageError, match="has no column penguin_id"):
        score_table(
            Job(url, "penguins_new", "penguin_id", url, "out", stamp), graph, 10, None, 1.0, 0.05
        )


def test_an_unreachable_scheduler_stops_the_job_before_any_row_is_written(fitted, tmp_path):
    import socket

    from taller_mlflow.training.cluster import ClusterUnreachable

    _, graph = fitted
    url = f"sqlite:///{tmp_path / 'b.db'}"
    input_table(url, [GOOD, GOOD])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    stamp = Stamp("r", "m", "1", datetime(2026, 12, 3))
    job = Job(url, "penguins_new", "id", url, "predictions_new", stamp)
    with pytest.raises(ClusterUnreachable, match=address):
        score_table(job, graph, 10, address, 2.0, 0.05)
    assert read_output(url) == []  # no local fallback scored anything


def test_the_command_line_reports_a_bad_setting_in_one_line(capsys):
    from taller_mlflow.batch.batch_cli import main

    argv = ["--model", "m", "--table", "t", "--out-table", "o", "--bad-rows-threshold", "3"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: setting batch_bad_rows_threshold: Input should be less than or equal to 1 (got 3.0)"
    ]
