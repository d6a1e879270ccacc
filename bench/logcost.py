"""The prediction log's cost: CPU per request of the API's process tree with PREDICTION_LOG_URL set
(SQLite in the work dir) vs unset, /predict at concurrency 16 with one row and with 100-row
batches. Two APIs run side by side; each round loads off, on (one row), then off, on (100 rows).
The log-on API is stopped cleanly at the end (its shutdown writes what is queued) and the rows it
logged are counted against the rows it answered."""

import contextlib
import sqlite3

from bench import bodies, harness, results, say, stats

GOAL_PCT = 10.0
CONCURRENCY = 16
SHAPES = (1, 100)
WARM_REQUESTS = 200


def logged_rows(db) -> int | None:
    with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT count(*) FROM prediction_log").fetchone()[0]
    return None


def run(ctx) -> dict:
    workers = ctx.args.api_workers
    db = ctx.workdir / "prediction_log.db"
    db.unlink(missing_ok=True)
    apis = {
        "off": ctx.api(workers, "logcost_off"),
        "on": ctx.api(workers, "logcost_on", {"PREDICTION_LOG_URL": f"sqlite:///{db}"}),
    }
    files = {n: bodies.write(ctx.workdir, f"predict_{n}", bodies.predict(n)) for n in SHAPES}
    sent_on = 0
    for key, api in apis.items():
        for n, body in files.items():
            harness.warm_up(f"{api.base_url}/predict", body.read_bytes(), WARM_REQUESTS)
            sent_on += WARM_REQUESTS * n if key == "on" else 0

    def cell(key: str, n: int):
        def go(_round: int) -> dict:
            nonlocal sent_on
            api = apis[key]
            meter = harness.CpuMeter(api.proc.pid)
            r = ctx.wrk.run(f"{api.base_url}/predict", files[n], CONCURRENCY, ctx.args.duration)
            r.update(meter.per_request_us(r["requests"]))
            sent_on += r["requests"] * n if key == "on" else 0
            say(
                f"  log {key}, {n} row{'s' * (n > 1)}: {r['req_s']:.0f} req/s, "
                f"{r['cpu_us_per_request']:.0f} µs CPU/request "
                f"({r['background_cpu_us_per_request']:.1f} in background threads), errors {r['errors']}"
            )
            return r

        return go

    sides = {f"{key}_{n}": cell(key, n) for n in SHAPES for key in ("off", "on")}
    say(
        f"prediction log off vs on, {workers} workers, {ctx.args.rounds} rounds: {', '.join(sides)}"
    )
    runs = stats.interleave(ctx.args.rounds, sides)
    ctx.stop(apis["on"])  # SIGTERM: a clean shutdown writes what is still queued
    ctx.stop(apis["off"])
    rows = logged_rows(db)
    targets = []
    for n in SHAPES:
        shape = "1 row" if n == 1 else f"{n}-row batches"

        def side(key, field, unit, label, n=n):
            return results.side(label, unit, [r[field] for r in runs[f"{key}_{n}"]])

        t = results.cost_target(
            f"log_cost_{n}",
            f"prediction log cost: API CPU per request, log on vs off (/predict, {shape}, "
            f"concurrency 16, {workers} workers)",
            side("on", "cpu_us_per_request", "µs", "log on"),
            side("off", "cpu_us_per_request", "µs", "log off"),
            GOAL_PCT,
        )
        on_rps = side("on", "req_s", "req/s", "on")
        off_rps = side("off", "req_s", "req/s", "off")
        t["detail"] = f"req/s on {stats.fmt(on_rps)} vs off {stats.fmt(off_rps)}"
        targets.append(t)
    return {
        "targets": targets,
        "data": {
            "runs": runs,
            "api_workers": workers,
            "rows_logged": rows,
            "rows_answered_on": sent_on,
        },
    }
