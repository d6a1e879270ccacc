"""The data set: the packaged CSV, its generator, init.sql, and the cleaning loader (no service)."""

import importlib.util
import io

import pandas as pd
import pytest

from taller_mlflow.local.servers import ROOT
from taller_mlflow.penguins import FEATURES, clean, packaged_csv, read_csv
from taller_mlflow.stage import StageError
from taller_mlflow.training.data import read_penguins
from tests.support.mysql import INIT_SQL

WORKSHOP_CSV = ROOT / "mysql-init" / "penguins_size.csv"


def test_csv_has_344_penguins_with_lf_endings_and_na_for_missing():
    assert b"\r" not in packaged_csv().read_bytes()
    frame = read_csv()
    assert list(frame.columns) == ["species", "island", *FEATURES[2:], "sex"]
    assert len(frame) == 344
    assert set(frame["species"]) == {"Adelie", "Chinstrap", "Gentoo"}
    assert set(frame["sex"].dropna()) == {"MALE", "FEMALE"}
    assert frame["sex"].isna().sum() == 11
    assert frame["culmen_length_mm"].isna().sum() == 2


def test_workshop_csv_in_mysql_init_is_a_link_to_the_packaged_csv():
    assert WORKSHOP_CSV.is_symlink()
    assert WORKSHOP_CSV.readlink().as_posix() == "../taller_mlflow/penguins_size.csv"
    assert WORKSHOP_CSV.resolve() == (ROOT / "taller_mlflow" / "penguins_size.csv")


def test_make_csv_reproduces_the_shipped_csv_and_init_sql(tmp_path, monkeypatch):
    script = ROOT / "scripts" / "make_csv.py"
    spec = importlib.util.spec_from_file_location("make_csv", script)
    make_csv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_csv)
    monkeypatch.setattr(make_csv, "OUT", tmp_path / "penguins_size.csv")
    monkeypatch.setattr(make_csv, "INIT_SQL", tmp_path / "init.sql")
    make_csv.main()
    assert (tmp_path / "penguins_size.csv").read_bytes() == packaged_csv().read_bytes()
    assert (tmp_path / "init.sql").read_bytes() == INIT_SQL.read_bytes()


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


def test_read_penguins_names_the_source_when_unreachable():
    with pytest.raises(StageError) as err:
        read_penguins("mysql+pymysql://nobody:secret@127.0.0.1:1/mydatabase")
    assert err.value.stage == "data"
    assert "127.0.0.1:1" in str(err.value) and "secret" not in str(err.value)


def test_load_csv_into_sqlite_creates_its_folder_and_writes_every_row(tmp_path):
    from taller_mlflow.training.data import load_csv_into

    url = f"sqlite:///{tmp_path / 'nested' / 'p.db'}"
    assert load_csv_into(url) == 344
    penguins = read_penguins(url)
    assert (penguins.rows_read, penguins.rows_dropped, len(penguins.frame)) == (344, 11, 333)
