"""The data on MariaDB: init.sql through the command-line client, and the loader reading it."""

import math

import pandas as pd
import pytest

from taller_mlflow.penguins import read_csv
from taller_mlflow.stage import StageError
from taller_mlflow.training.data import load_csv_into, read_penguins
from tests.support.mysql import INIT_SQL, mysql_connect, run_sql_file


def test_init_sql_loads_344_rows_without_cr_and_with_nulls_for_na_even_when_run_twice():
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS mydatabase")
    run_sql_file(INIT_SQL)
    run_sql_file(INIT_SQL)
    with mysql_connect("mydatabase") as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM penguins")
        assert cur.fetchone()[0] == 344
        cur.execute(
            "SELECT COUNT(*) FROM penguins WHERE sex LIKE '%\r%' OR species LIKE '%\r%'"
            " OR island LIKE '%\r%'"
        )
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT id, culmen_length_mm, sex FROM penguins ORDER BY id")
        rows = cur.fetchall()
    csv = read_csv()
    for (row_id, culmen, sex), (_, expected) in zip(rows, csv.iterrows(), strict=True):
        assert (culmen is None) == math.isnan(expected["culmen_length_mm"]), row_id
        assert (sex is None) == pd.isna(expected["sex"]), row_id
        if culmen is not None:
            assert float(culmen) == pytest.approx(expected["culmen_length_mm"])


def test_read_penguins_from_mysql_gives_clean_typed_frame(penguins_mysql_url):
    penguins = read_penguins(penguins_mysql_url)
    assert penguins.rows_read == 344
    assert penguins.rows_dropped == 11
    assert len(penguins.frame) == 333
    assert penguins.frame["body_mass_g"].dtype == "float64"
    assert set(penguins.frame["sex"]) == {"MALE", "FEMALE"}


def test_read_penguins_from_sqlite_matches_mysql(tmp_path, penguins_mysql_url):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    assert load_csv_into(url) == 344
    pd.testing.assert_frame_equal(read_penguins(url).frame, read_penguins(penguins_mysql_url).frame)


def test_read_penguins_rejects_an_empty_table(empty_mysql_url):
    with pytest.raises(StageError, match="is empty"):
        read_penguins(empty_mysql_url)
