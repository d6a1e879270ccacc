"""The penguins themselves: the six features, the values each may take, the species, and the one
copy of the data shipped with the package.

Everything that speaks about a penguin takes its words from here: training, the promotion gate,
the API's validation and the prediction log. The API imports this module too, so nothing heavy is
imported at module level: pandas is imported by the functions that read the CSV, and only then.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    import pandas as pd

TARGET = "species"
CATEGORICAL = ["island", "sex"]
NUMERIC = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
FEATURES = CATEGORICAL + NUMERIC

# The rules every protocol applies: /predict through its Penguin model (app/schemas.py), the
# columnar protocols column by column (taller_mlflow/serving/features.py).
ISLANDS = ("Biscoe", "Dream", "Torgersen")
SEXES = ("MALE", "FEMALE")
SPECIES = ("Adelie", "Chinstrap", "Gentoo")  # the labels /feedback accepts
UPPER_BOUNDS = {
    "culmen_length_mm": 100,
    "culmen_depth_mm": 50,
    "flipper_length_mm": 300,
    "body_mass_g": 10_000,
}

# A real penguin (the dataset's first row), as /predict takes it.
EXAMPLE_PENGUIN = {
    "island": "Torgersen",
    "culmen_length_mm": 39.1,
    "culmen_depth_mm": 18.7,
    "flipper_length_mm": 181.0,
    "body_mass_g": 3750.0,
    "sex": "MALE",
    "model": "modelo_penguins",
}

# The one copy of the data, shipped inside the package (mysql-init/ links to it for the workshop).
CSV_NAME = "penguins_size.csv"


@dataclass(frozen=True)
class Penguins:
    frame: pd.DataFrame
    rows_read: int
    rows_dropped: int


def clean(raw: pd.DataFrame) -> Penguins:
    """Strip strings (CR included), turn 'NA'/'.'/'' into missing, type numbers, drop incomplete rows."""
    import pandas as pd

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


def packaged_csv() -> Traversable:
    """The Palmer CSV shipped as package data (taller_mlflow/penguins_size.csv)."""
    return resources.files("taller_mlflow").joinpath(CSV_NAME)


def read_csv() -> pd.DataFrame:
    """The packaged CSV as shipped, with 'NA' kept as missing."""
    import pandas as pd

    with packaged_csv().open("rb") as fh:
        return pd.read_csv(fh, na_values=["NA"], keep_default_na=False)
