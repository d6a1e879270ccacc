"""MLflow scoring-protocol bodies -> columns: `dataframe_split`, `dataframe_records`, `instances`,
`inputs` (JSON, with optional `params`) and `text/csv`, with MLflow's scoring server's errors.

`dataframe_split` and column-shaped `inputs` go to columns without a per-row object; the
record-shaped formats are rows by nature and are turned into columns once.
"""

import csv
import io
from collections.abc import Mapping, Sequence
from operator import itemgetter

import orjson

from app.protocols.styles import ProtocolError

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
CONTENT_TYPES = ("application/json", "text/csv")


def bad(message: str, status: int = 400) -> ProtocolError:
    return ProtocolError(status, message)


def parse_invocation(raw: bytes, content_type: str | None) -> Mapping[str, Sequence]:
    mime, _, options = (content_type or "").partition(";")
    mime = mime.strip().lower()
    charset = options.strip().lower().removeprefix("charset=").strip() or "utf-8"
    if charset not in ("utf-8", "utf8"):
        raise bad("The scoring server only supports UTF-8", 415)
    if mime == "text/csv":
        return csv_columns(raw)
    if mime != "application/json":
        raise bad(f"Content-Type must be one of {', '.join(CONTENT_TYPES)}, got {mime!r}", 415)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad(f"Ensure that input is a valid JSON formatted string: {exc}") from exc
    keys = [k for k in FORMATS if isinstance(body, dict) and k in body]
    if len(keys) != 1:
        found = list(body) if isinstance(body, dict) else type(body).__name__
        raise bad(f"The input must be a JSON object with exactly one of {FORMATS}; got {found}")
    params = body.get("params")
    if params is not None and not isinstance(params, dict):
        raise bad("params must be a JSON object")
    return PARSERS[keys[0]](body[keys[0]])


def split_columns(split) -> dict[str, Sequence]:
    if not isinstance(split, dict) or not isinstance(split.get("columns"), list):
        raise bad("dataframe_split must be an object with 'columns' and 'data'")
    columns, data = split["columns"], split.get("data")
    if not all(isinstance(c, str) for c in columns):
        raise bad("dataframe_split.columns must be a list of column names")
    if len(set(columns)) != len(columns):
        twice = next(c for c in columns if columns.count(c) > 1)
        raise bad(f"dataframe_split.columns names {twice!r} twice")
    if not isinstance(data, list) or not all(type(row) is list for row in data):
        raise bad("dataframe_split.data must be a list of rows, each a list")
    widths = set(map(len, data))
    if widths - {len(columns)}:
        row = next(i for i, r in enumerate(data) if len(r) != len(columns))
        raise bad(
            f"dataframe_split.data row {row} has {len(data[row])} values for {len(columns)} columns"
        )
    # One C-level pass per column (itemgetter over the rows), not zip(*rows): as fast, and short
    # enough that the event loop gets the GIL between them while a large batch is parsed.
    return {c: list(map(itemgetter(i), data)) for i, c in enumerate(columns)}


def records_columns(records) -> dict[str, Sequence]:
    if not isinstance(records, list) or not all(type(r) is dict for r in records):
        raise bad("records must be a list of objects, one per row")
    names = set().union(*records) if records else set()
    return {name: [r.get(name) for r in records] for name in names}


def tensor_columns(value) -> dict[str, Sequence]:
    """`instances`/`inputs`: records (a list of objects) or columns (an object of lists)."""
    if isinstance(value, list):
        return records_columns(value)
    if isinstance(value, dict) and all(isinstance(v, list) for v in value.values()):
        return value
    raise bad("instances/inputs must be a list of row objects or an object of column lists")


def csv_columns(raw: bytes) -> dict[str, Sequence]:
    try:
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise bad(f"Ensure that input is valid UTF-8 CSV: {exc}") from exc
    if not rows:
        raise bad("the CSV has no header row")
    header, data = rows[0], [r for r in rows[1:] if r]
    return split_columns({"columns": header, "data": data})


PARSERS = {
    "dataframe_split": split_columns,
    "dataframe_records": records_columns,
    "instances": tensor_columns,
    "inputs": tensor_columns,
}
