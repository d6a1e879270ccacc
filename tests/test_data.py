"""The data set: CSV, init.sql, and the cleaning loader."""

import importlib.util
import io
import math
from pathlib import Path

import pandas as pd
import pytest

from taller_mlflow.data import CSV_PATH, FEATURES, clean, load_csv_into, read_csv, read_penguins
from taller_mlflow.errors import StageError
from tests.conftest import INIT_SQL, mysql_connect, run_sql_file

ROOT = Path(__file__).resolve().parent.parent


def test_csv_has_344_penguins_with_lf_endings_and_na_for_missing():
    raw = CSV_PATH.read_bytes()
    assert b"\r" not in raw
    frame = read_csv()
    assert list(frame.columns) == ["species", "island", *FEATURES[2:], "sex"]
    assert len(frame) == 344
    assert set(frame["species"]) == {"Adelie", "Chinstrap", "Gentoo"}
    assert set(frame["sex"].dropna()) == {"MALE", "FEMALE"}
    assert frame["sex"].isna().sum() == 11
    assert frame["culmen_length_mm"].isna().sum() == 2


def test_make_csv_reproduces_the_shipped_csv_and_init_sql(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("make_csv", ROOT / "mysql-init" / "make_csv.py")
    make_csv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_csv)
    monkeypatch.setattr(make_csv, "OUT", tmp_path / "penguins_size.csv")
    monkeypatch.setattr(make_csv, "INIT_SQL", tmp_path / "init.sql")
    make_csv.main()
    assert (tmp_path / "penguins_size.csv").read_bytes() == CSV_PATH.read_bytes()
    assert (tmp_path / "init.sql").read_text() == INIT_SQL.read_text()


def test_clean_strips_carriage_returns_whitespace_and_na():
    raw = pd.read_csv(
        io.StringIO(
            "species,island,culmen_length_mm,culmen_depth_mm,flipper_length_mm,body_mass_g,sex\r\n"
            "Adelie , Torgersen,39.1,18.7,181,3750,MALE\r\n"
            "Gentoo,Biscoe,NA,NA,NA,NA,NA\r\n"
            "Gentoo,Biscoe,46.1,13.2,211,4500,female \r\n"
            "Gentoo,Biscoe,46.1,13.2,211,4500,.\r\n"
        ),
        keep_default_na=False,
        dtype=str,
    )
    penguins = clean(raw)
    frame = penguins.frame
    assert penguins.rows_read == 4 and penguins.rows_dropped == 2
    assert frame["sex"].tolist() == ["MALE", "FEMALE"]
    assert frame["species"].tolist() == ["Adelie", "Gentoo"]
    assert frame["island"].tolist() == ["Torgersen", "Biscoe"]
    assert all(frame[c].dtype == "float64" for c in FEATURES[2:])
    assert not any("\r" in str(v) for v in frame.to_numpy().ravel())


@pytest.mark.services
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


@pytest.mark.services
def test_read_penguins_from_mysql_gives_clean_typed_frame(penguins_mysql_url):
    penguins = read_penguins(penguins_mysql_url)
    assert penguins.rows_read == 344
    assert penguins.rows_dropped == 11
    assert len(penguins.frame) == 333
    assert penguins.frame["body_mass_g"].dtype == "float64"
    assert set(penguins.frame["sex"]) == {"MALE", "FEMALE"}


@pytest.mark.services
def test_read_penguins_from_sqlite_matches_mysql(tmp_path, penguins_mysql_url):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    assert load_csv_into(url) == 344
    pd.testing.assert_frame_equal(read_penguins(url).frame, read_penguins(penguins_mysql_url).frame)


def test_read_penguins_names_the_source_when_unreachable():
    with pytest.raises(StageError) as err:
        read_penguins("mysql+pymysql://nobody:secret@127.0.0.1:1/mydatabase")
    assert err.value.stage == "data"
    assert "127.0.0.1:1" in str(err.value) and "secret" not in str(err.value)


@pytest.mark.services
def test_read_penguins_rejects_an_empty_table(empty_mysql_url):
    with pytest.raises(StageError, match="is empty"):
        read_penguins(empty_mysql_url)
