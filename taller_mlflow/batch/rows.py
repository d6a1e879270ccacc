"""Which rows of a partition can be scored, and why the others cannot.

The rules are /predict's (taller_mlflow/penguins.py: the islands, the sexes in any case, numbers
with 0 < x <= the bound), with /predict's wording; but where /predict refuses a whole request
for its first bad value, a batch keeps going: every row is checked, and a bad row gets a reason
naming its first bad column instead of stopping the job.
"""

from collections.abc import Mapping, Sequence

import numpy as np

from taller_mlflow.penguins import CATEGORICAL, FEATURES, UPPER_BOUNDS
from taller_mlflow.serving.features import ALLOWED

Reasons = dict[int, str]  # row (from 0 in the partition): why it cannot be scored


def _category(values: Sequence, column: str) -> tuple[np.ndarray, Reasons]:
    allowed = ALLOWED[column]
    try:
        distinct = set(values)
    except TypeError:  # an unhashable value: every row on its own
        return _category_rows(values, column)
    if distinct <= set(allowed):  # the common case, checked at C speed
        return np.asarray(values, dtype=object), {}
    # A column holds few distinct values: judge each once, then look the rows up.
    verdicts = {value: _category_value(value, column, allowed) for value in distinct}
    clean = np.asarray([verdicts[value][0] for value in values], dtype=object)
    bad = {value for value, (_, reason) in verdicts.items() if reason}
    reasons = {row: verdicts[value][1] for row, value in enumerate(values) if value in bad}
    return clean, reasons


def _category_rows(values: Sequence, column: str) -> tuple[np.ndarray, Reasons]:
    allowed = ALLOWED[column]
    clean, reasons = [], {}
    for row, value in enumerate(values):
        text, reason = _category_value(value, column, allowed)
        if reason:
            reasons[row] = reason
        clean.append(text)
    return np.asarray(clean, dtype=object), reasons


def _category_value(value, column: str, allowed) -> tuple[object, str | None]:
    """(the value as scored, why it cannot be, or None)."""
    text = value.strip().upper() if column == "sex" and isinstance(value, str) else value
    if value is None:
        return text, f"{column}: missing"
    if not isinstance(value, str):
        return text, f"{column}: expected a string, got {value!r}"
    if text not in allowed:
        return text, f"{column}: {value!r} is not one of {', '.join(allowed)}"
    return text, None


def _number(value) -> float | None:
    """A value as a float (NULL: NaN), or None when it is no number at all."""
    if value is None:
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _measure(values: Sequence, column: str) -> tuple[np.ndarray, Reasons]:
    try:  # the common case, at C speed: numbers and NULLs (None becomes NaN)
        numbers = np.asarray(values, dtype=np.float64)
        garbage = np.zeros(len(numbers), dtype=bool)
    except (TypeError, ValueError):
        parsed = [_number(v) for v in values]
        garbage = np.array([p is None for p in parsed], dtype=bool)
        numbers = np.array([np.nan if p is None else p for p in parsed], dtype=np.float64)
    bound = UPPER_BOUNDS[column]
    ok = np.isfinite(numbers) & (numbers > 0) & (numbers <= bound)
    reasons = {}
    for row in np.flatnonzero(~ok).tolist():
        if garbage[row]:
            reasons[row] = f"{column}: expected a number, got {values[row]!r}"
        elif np.isnan(numbers[row]):
            reasons[row] = f"{column}: missing"
        else:
            reasons[row] = f"{column}: {float(numbers[row])} is not a number with 0 < x <= {bound}"
    return numbers, reasons


def check(columns: Mapping[str, Sequence]) -> tuple[dict[str, np.ndarray], Reasons]:
    """(the six features as the graph takes them, the reason of each row that cannot be
    scored). A row's reason names its first bad column, in FEATURES order."""
    features: dict[str, np.ndarray] = {}
    reasons: Reasons = {}
    for column in FEATURES:
        check_one = _category if column in CATEGORICAL else _measure
        features[column], found = check_one(columns[column], column)
        for row, reason in found.items():
            reasons.setdefault(row, reason)
    return features, reasons
