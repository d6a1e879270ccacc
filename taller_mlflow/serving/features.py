"""Column-wise validation of penguin features, for every protocol: /predict's rules (the same
bounds and allowed values as its Penguin model, taller_mlflow/penguins.py), applied to whole
columns with numpy.

No per-row object is built: each column becomes one array, checked with vectorised tests, and a
failure names the column and the first bad row (counted from 0).
"""

from collections.abc import Mapping, Sequence

import numpy as np

from taller_mlflow.penguins import CATEGORICAL, FEATURES, ISLANDS, NUMERIC, SEXES, UPPER_BOUNDS
from taller_mlflow.serving.problems import InvalidInput, TooManyRows

ALLOWED = {"island": ISLANDS, "sex": SEXES}


def features_from_columns(columns: Mapping[str, Sequence], max_rows: int) -> dict[str, np.ndarray]:
    """The six features as 1-D arrays (categorical as object, numbers as float64), validated."""
    missing = [c for c in FEATURES if c not in columns]
    if missing:
        raise InvalidInput(missing[0], f"missing; the model needs {', '.join(FEATURES)}")
    unknown = sorted(map(str, set(columns) - set(FEATURES)))
    if unknown:
        raise InvalidInput(unknown[0], f"unknown; the model takes {', '.join(FEATURES)}")
    lengths = {c: len(columns[c]) for c in FEATURES}
    n = lengths[FEATURES[0]]
    if n == 0:
        raise InvalidInput(FEATURES[0], "no rows")
    if n > max_rows:
        raise TooManyRows(f"{n} rows exceed the limit of {max_rows}")
    for column, length in lengths.items():
        if length != n:
            raise InvalidInput(column, f"{length} values, but {FEATURES[0]!r} has {n}")
    out = {c: category(columns[c], c) for c in CATEGORICAL}
    out.update({c: measure(columns[c], c) for c in NUMERIC})
    return out


def category(values: Sequence, column: str) -> np.ndarray:
    allowed = ALLOWED[column]
    try:
        clean = set(values) <= set(allowed)  # the common case, checked at C speed
    except TypeError:  # an unhashable value (a list, a dict): the slow path names it
        clean = False
    if not clean:
        values = _normalised(values, column)
    return np.asarray(values, dtype=object)


def _normalised(values: Sequence, column: str) -> list[str]:
    out = []
    for row, value in enumerate(values):
        if type(value) is not str:
            raise InvalidInput(column, f"expected a string, got {value!r}", row)
        text = value.strip().upper() if column == "sex" else value  # sex: any case, as /predict
        if text not in ALLOWED[column]:
            raise InvalidInput(column, f"{value!r} is not one of {', '.join(ALLOWED[column])}", row)
        out.append(text)
    return out


def measure(values: Sequence, column: str) -> np.ndarray:
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        row = next((i for i, v in enumerate(values) if not _is_number(v)), 0)
        raise InvalidInput(column, f"expected a number, got {values[row]!r}", row) from None
    if numbers.ndim != 1:
        raise InvalidInput(column, "expected one number per row")
    bound = UPPER_BOUNDS[column]
    ok = np.isfinite(numbers) & (numbers > 0) & (numbers <= bound)
    if not ok.all():
        row = int(np.argmin(ok))
        raise InvalidInput(
            column, f"{float(numbers[row])} is not a number with 0 < x <= {bound}", row
        )
    return numbers


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return not isinstance(value, list | tuple | dict)
