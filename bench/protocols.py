"""The protocol matrix: rows/s, p50 and p99 for batches of 1, 100, 1000 and 10,000 rows at
concurrency 1 and 16, on `mlflow models serve` and on this API's /invocations (dataframe_split),
V2 infer (JSON tensors) and /predict (whose batches stop at 1000), beside in-process scikit-learn
on the same DataFrames (one thread, back to back: the strongest in-process reference)."""

import json
from pathlib import Path

from bench import MODEL, say
from bench.load import CONCURRENCY, Wrk, batch_of, report_cell, thread_cell
from taller_mlflow.penguins import FEATURES

SIZES = (1, 100, 1000, 10_000)
PREDICT_MAX = 1000  # /predict's batch cap


def split_body(rows: list[dict]) -> dict:
    return {
        "dataframe_split": {"columns": FEATURES, "data": [[r[c] for c in FEATURES] for r in rows]}
    }


def v2_body(rows: list[dict]) -> dict:
    text = ("island", "sex")
    return {
        "inputs": [
            {
                "name": c,
                "shape": [len(rows), 1],
                "datatype": "BYTES" if c in text else "FP64",
                "data": [r[c] for r in rows],
            }
            for c in FEATURES
        ]
    }


def predict_body(version: str):
    return lambda rows: [{**r, "model": f"{MODEL}/{version}"} for r in rows]


def matrix(
    name: str,
    wrk: Wrk,
    url: str,
    make_body,
    pool: list[dict],
    workdir: Path,
    duration: float,
    sizes=SIZES,
) -> dict:
    """One server's cells, keyed `{rows}/c{concurrency}`."""
    out = {}
    for size in sizes:
        path = workdir / f"{name.replace(' ', '_').strip('()')}_{size}.json"
        path.write_text(json.dumps(make_body(batch_of(pool, size))))
        for conns in CONCURRENCY:
            say(f"{name}: {size} rows, concurrency {conns}, {duration:.0f}s")
            r = wrk.run(url, path, conns, duration)
            r["rows_s"] = r["req_s"] * size
            out[f"{size}/c{conns}"] = r
            report_cell(r)
    return out


def in_process_matrix(predict_proba, pool: list[dict], duration: float) -> dict:
    import pandas as pd

    out = {}
    for size in SIZES:
        frame = pd.DataFrame(batch_of(pool, size), columns=FEATURES)
        predict_proba(frame)  # warm
        say(f"in-process scikit-learn: {size} rows, 1 thread, {duration:.0f}s")
        out[f"{size}/c1"] = r = thread_cell(predict_proba, frame, size, 1, duration)
        report_cell(r, unit="calls/s")
    return out


def best_rows_s(cells: dict, size: int) -> float:
    return max(cells[f"{size}/c{c}"]["rows_s"] for c in CONCURRENCY if f"{size}/c{c}" in cells)


LABELS = {
    "serve": "(a) `mlflow models serve` /invocations",
    "invocations": "(b) API /invocations (dataframe_split)",
    "v2": "(b) API V2 infer (JSON tensors)",
    "predict": "(b) API /predict",
    "sklearn": "(c) in-process scikit-learn, 1 thread",
}


def table(res: dict) -> list[str]:
    m = res["matrix"]
    lines = [
        f"## Protocols and batch sizes ({res['matrix_duration_s']:.0f} s per cell)",
        "",
        "| target | rows/request | concurrency | req/s | rows/s | p50 ms | p99 ms | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, label in LABELS.items():
        for cell, r in m[key].items():
            size, conc = cell.split("/c")
            lines.append(
                f"| {label} | {size} | {conc} | {r['req_s']:.0f} | {r['rows_s']:.0f} |"
                f" {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} |"
            )
    return lines
