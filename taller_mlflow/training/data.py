"""Read the penguins table from any SQLAlchemy URL and clean it for training."""

import logging
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from taller_mlflow.penguins import Penguins, clean, read_csv
from taller_mlflow.stage import StageError

log = logging.getLogger(__name__)

TABLE = "penguins"


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
