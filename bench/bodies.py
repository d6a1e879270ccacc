"""The request bodies, built from the penguins of the packaged CSV, as files for wrk.

/predict takes the seed's body (one penguin, `"model": "modelo_penguins"`) or a list of them;
/invocations a `dataframe_split`; V2 infer one tensor per feature in the binary tensor data
extension (BYTES for island and sex, FP64 for the measurements). `mlflow models serve` gets the
same `dataframe_split` as the API's /invocations.
"""

import json
import struct
from functools import cache
from pathlib import Path

from bench import MODEL, SEED_BODY, SEED_PENGUIN

FEATURES = [
    "island",
    "sex",
    "culmen_length_mm",
    "culmen_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
]
TEXT = ("island", "sex")
V2_HEADER = "Inference-Header-Content-Length"


@cache
def penguins() -> tuple[dict, ...]:
    """The complete rows of the packaged CSV (333), seed penguin first, in the API's shape."""
    from taller_mlflow.penguins import FEATURES as PACKAGE_FEATURES
    from taller_mlflow.penguins import clean, read_csv

    assert sorted(PACKAGE_FEATURES) == sorted(FEATURES), PACKAGE_FEATURES
    rows = clean(read_csv()).frame[FEATURES].to_dict("records")
    return (dict(SEED_PENGUIN), *rows)


def rows(n: int) -> list[dict]:
    pool = penguins()
    return [pool[i % len(pool)] for i in range(n)]


def predict(n: int = 1) -> dict | list[dict]:
    """/predict: the seed's body for one row, else a list of n penguins naming the model."""
    if n == 1:
        return dict(SEED_BODY)
    return [{**r, "model": MODEL} for r in rows(n)]


def split(n: int) -> dict:
    """MLflow's scoring protocol, `dataframe_split`, n rows."""
    return {
        "dataframe_split": {
            "columns": FEATURES,
            "data": [[r[c] for c in FEATURES] for r in rows(n)],
        }
    }


def v2_binary(n: int) -> tuple[bytes, dict[str, str]]:
    """Open Inference Protocol V2 infer with binary tensors: (body, headers)."""
    data = rows(n)
    inputs, blobs = [], []
    for c in FEATURES:
        if c in TEXT:
            blob = b"".join(
                struct.pack("<I", len(v)) + v for v in (str(r[c]).encode() for r in data)
            )
            datatype = "BYTES"
        else:
            blob = struct.pack(f"<{n}d", *(float(r[c]) for r in data))
            datatype = "FP64"
        inputs.append(
            {
                "name": c,
                "shape": [n, 1],
                "datatype": datatype,
                "parameters": {"binary_data_size": len(blob)},
            }
        )
        blobs.append(blob)
    header = json.dumps({"inputs": inputs}).encode()
    headers = {"Content-Type": "application/octet-stream", V2_HEADER: str(len(header))}
    return header + b"".join(blobs), headers


def write(workdir: Path, name: str, body) -> Path:
    """A body (JSON-able, or bytes) as a file for wrk."""
    path = workdir / f"{name}.body"
    path.write_bytes(body if isinstance(body, bytes) else json.dumps(body).encode())
    return path


def frame(n: int):
    """The same n rows as a DataFrame, for in-process scikit-learn."""
    import pandas as pd

    return pd.DataFrame(rows(n), columns=FEATURES)
