"""Read the penguins table from any SQLAlchemy URL and clean it for training."""

import logging
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from taller_mlflow.errors import StageError

log = logging.getLogger(__name__)

TABLE = "penguins"
TARGET = "species"
CATEGORICAL = ["island", "sex"]
NUMERIC = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
FEATURES = CATEGORICAL + NUMERIC
# The one copy of the data, shipped inside the package (mysql-init/ links to it for the workshop).
CSV_NAME = "penguins_size.csv"


@dataclass(frozen=True)
class Penguins:
    frame: pd.DataFrame
    rows_read: int
    rows_dropped: int


def clean(raw: pd.DataFrame) -> Penguins:
    """Strip strings (CR included), turn 'NA'/'.'/'' into missing, type numbers, drop incomplete rows."""
    frame = raw[[TARGET, *FEATURES]].copy()
    for col in [TARGET, *CATEGORICAL]:
        text = frame[col].astype("string").str.strip()
        frame[col] = text.mask(text.isin(["", "NA", "."]))
    frame["sex"] = frame["sex"].str.upper()
    for col in NUMERIC:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    complete = frame.dropna().reset_index(drop=True)
    for col in [TARGET, *CATEGORICAL]:
        complete[col] = complete[col].astype(object)
    return Penguins(complete, rows_read=len(frame), rows_dropped=len(frame) - len(complete))


def read_penguins(data_url: str) -> Penguins:
    """Read table `penguins` from `data_url` and clean it. Raises StageError naming the source."""
    where = sa.engine.make_url(data_url).render_as_string(hide_password=True)
    try:
        engine = sa.create_engine(data_url)
        with engine.connect() as conn:
            raw = pd.read_sql_table(TABLE, conn)
    except ValueError as exc:  # pandas: table not found
        raise StageError("data", f"table `{TABLE}` not found in {where}") from exc
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise StageError("data", f"cannot read {where}: {reason}") from exc
    if raw.empty:
        raise StageError("data", f"table `{TABLE}` in {where} is empty")
    penguins = clean(raw)
    if penguins.frame.empty:
        raise StageError("data", f"table `{TABLE}` in {where} has no complete rows")
    log.info(
        "read %d rows from %s, dropped %d incomplete",
        penguins.rows_read,
        where,
        penguins.rows_dropped,
    )
    return penguins


def packaged_csv() -> Traversable:
    """The Palmer CSV shipped as package data (taller_mlflow/penguins_size.csv)."""
    return resources.files("taller_mlflow").joinpath(CSV_NAME)


def read_csv() -> pd.DataFrame:
    """The packaged CSV as shipped, with 'NA' kept as missing."""
    with packaged_csv().open("rb") as fh:
        return pd.read_csv(fh, na_values=["NA"], keep_default_na=False)


def load_csv_into(data_url: str) -> int:
    """Create table `penguins` at `data_url` from the packaged CSV (replacing it); rows written."""
    frame = read_csv()
    frame.insert(0, "id", range(1, len(frame) + 1))
    url = sa.engine.make_url(data_url)
    if url.get_backend_name() == "sqlite" and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(data_url)
    with engine.begin() as conn:
        frame.to_sql(TABLE, conn, if_exists="replace", index=False)
    return len(frame)
