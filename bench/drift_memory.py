"""The drift job's memory on a 2-million-row window: the job as it runs (the window counted in
SQL, each version's rows streamed in chunks into counts, taller_mlflow.monitoring.window) against
the job as it was (the whole window read into pandas, then compared), on the same rows: SQLite
(`make run`) and PostgreSQL (the stack; skipped, saying so, when no server answers).

Each measurement is a fresh process (`python -m bench.drift_probe ...`) that imports what
`python -m taller_mlflow.monitor` imports, reads its RSS, then checks the window (and draws and
serialises its report, as the job does before uploading it) while a thread samples the RSS every
5 ms. The figure is the window's own: the peak during the check minus
the RSS before it. The process's peak during the check, and which heavy packages it had imported, are
recorded beside it. Rounds interleave the two ways of reading and the two databases."""

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import numpy as np

from bench import ROOT, logcost, results, say, stats

ROWS = 2_000_000
GOAL_MIB = 200.0
INSERT_BATCH = 100_000
MODEL, VERSION = "modelo_penguins", "1"
COLUMNS = (
    "ts, request_id, endpoint, model_name, model_version, model_alias, island, culmen_length_mm,"
    " culmen_depth_mm, flipper_length_mm, body_mass_g, sex, prediction, probabilities, latency_ms"
)


def packaged_penguins():
    import pandas as pd

    from taller_mlflow.penguins import FEATURES, TARGET

    frame = pd.read_csv(ROOT / "taller_mlflow" / "penguins_size.csv").dropna()
    frame = frame[frame["sex"].isin(["MALE", "FEMALE"])]
    return frame[FEATURES], frame[TARGET]


def generated_rows(rows: int, end: datetime, seed: int = 0):
    """`rows` log rows in the 24 hours before `end`, drawn from the packaged penguins, in batches."""
    from taller_mlflow.penguins import NUMERIC

    features, species = packaged_penguins()
    rng = np.random.default_rng(seed)
    order = ["island", *NUMERIC, "sex"]
    table = features[order].assign(prediction=species.to_numpy()).to_numpy(object)
    for at in range(0, rows, INSERT_BATCH):
        n = min(INSERT_BATCH, rows - at)
        picked = table[rng.integers(0, len(table), n)]
        ages = rng.uniform(0, 23.9 * 3600, n)
        yield [
            (
                (end - timedelta(seconds=float(age))).replace(tzinfo=None).isoformat(sep=" "),
                f"bench-{at + i}",
                "/predict",
                MODEL,
                VERSION,
                "production",
                row[0],
                float(row[1]),
                float(row[2]),
                float(row[3]),
                float(row[4]),
                row[5],
                row[6],
                json.dumps({row[6]: 1.0}),
                1.0,
            )
            for i, (row, age) in enumerate(zip(picked, ages, strict=True))
        ]


def fill(url: str, rows: int, end: datetime) -> None:
    import sqlalchemy as sa

    from taller_mlflow.monitoring.schema import create_schema

    engine = sa.create_engine(url)
    create_schema(engine)
    engine.dispose()
    marks = ", ".join(["?"] * 15)
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            for batch in generated_rows(rows, end):
                conn.executemany(f"INSERT INTO prediction_log ({COLUMNS}) VALUES ({marks})", batch)
        return
    import psycopg2
    from psycopg2.extras import execute_values

    dsn = url.replace("postgresql+psycopg2", "postgresql")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        for batch in generated_rows(rows, end):
            execute_values(cur, f"INSERT INTO prediction_log ({COLUMNS}) VALUES %s", batch)


# --- the phase --------------------------------------------------------------------------------


def run(ctx) -> dict:
    from taller_mlflow.monitoring.reference import build_profile

    end = datetime.now(UTC)
    features, species = packaged_penguins()
    profile_path = ctx.workdir / "drift_profile.json"
    profile_path.write_text(json.dumps(build_profile(features, species)))
    urls = {"sqlite": f"sqlite:///{ctx.workdir / 'drift_log.db'}"}
    pg = logcost.create_pg_database()
    if pg is not None:
        urls["postgresql"] = logcost.pg_url(pg)
    try:
        for kind, url in urls.items():
            say(f"  writing {ROWS:,} log rows to {kind} (untimed)")
            fill(url, ROWS, end)
        cells: dict[str, list[dict]] = {}

        def measured(kind: str, method: str):
            def go(n: int) -> float:
                cmd = [sys.executable, "-m", "bench.drift_probe", urls[kind]]
                cmd += ["--method", method, "--profile", str(profile_path)]
                cmd += ["--end", end.isoformat()]
                out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
                cell = json.loads(out.stdout.splitlines()[-1])
                cells.setdefault(f"{kind}_{method}", []).append(cell)
                say(
                    f"  {kind} {method}, round {n + 1}: window +{cell['window_mib']:.0f} MiB, "
                    f"process peak {cell['process_peak_mib']:.0f} MiB, {cell['seconds']:.1f} s"
                )
                return cell["window_mib"]

            return go

        sides = {f"{k}_{m}": measured(k, m) for k in urls for m in ("streamed", "whole")}
        runs = stats.interleave(ctx.args.rounds, sides)
    finally:
        if pg is not None:
            logcost.drop_pg_database(pg)
    targets = []
    for kind in urls:
        name = logcost.DATABASES[kind].split(",")[0]
        streamed = cells[f"{kind}_streamed"]
        peak = stats.summary([c["process_peak_mib"] for c in streamed])
        before = stats.summary([c["rss_before_mib"] for c in streamed])
        target = results.value_target(
            f"drift_window_memory_{kind}",
            f"drift job: memory a {ROWS:,}-row window adds, {name}",
            results.side("streamed in chunks", "MiB", runs[f"{kind}_streamed"]),
            GOAL_MIB,
            reference=results.side("whole window in pandas (before)", "MiB", runs[f"{kind}_whole"]),
        )
        imported = ", ".join(streamed[0]["imported"]) or "none of them"
        target["detail"] = (
            f"the process at its peak during the check {stats.fmt(peak)} MiB, of which "
            f"{stats.fmt(before)} MiB before the first row (the job's imports: {imported})"
        )
        targets.append(target)
    same = {k: {c["status"] for c in v} | {c["rows"] for c in v} for k, v in cells.items()}
    return {"targets": targets, "data": {"rows": ROWS, "runs": runs, "cells": cells, "same": same}}
