"""The prediction log's cost: CPU per request of the API's process tree with PREDICTION_LOG_URL set
vs unset, /predict at concurrency 16 with one row and with 100-row batches, for each database the
log is written to: SQLite in the work dir (`make run`) and PostgreSQL (the stack; a fresh database
on BENCH_PG_DSN's server, 127.0.0.1:5432 by default, created and dropped by the phase; skipped,
saying so, when no server answers). The APIs run side by side; each round loads off, SQLite,
PostgreSQL with one row, then the same with 100 rows.

A log that drops rows has no cost worth quoting: each log-on API is stopped cleanly at the end
(its shutdown writes what is queued), the rows in its database are counted against the rows it
answered (the sum of its `api_predictions_total`, read just before the stop: warm-ups included,
exact, unlike wrk's count of completed requests), and a side that lost any row is "not met"
whatever its CPU."""

import contextlib
import os
import re
import sqlite3
import uuid

import requests

from bench import bodies, harness, results, say, stats

GOAL_PCT = 10.0
CONCURRENCY = 16
SHAPES = (1, 100)
WARM_REQUESTS = 200
PG_DSN = os.environ.get("BENCH_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
ANSWERED = re.compile(r"^api_predictions_total\{[^}]*\} (\S+)$", re.M)
DROPPED = re.compile(r"^prediction_log_dropped_total\{[^}]*\} (\S+)$", re.M)
DATABASES = {"sqlite": "SQLite (`make run`)", "postgresql": "PostgreSQL (the stack), COPY"}


# --- the log's databases ------------------------------------------------------------------------


def _pg(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(PG_DSN, connect_timeout=5)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def pg_url(name: str) -> str:
    fields = dict(re.findall(r"(\w+)=(\S+)", PG_DSN))
    user, host = fields.get("user", "postgres"), fields.get("host", "127.0.0.1")
    password = f":{fields['password']}" if "password" in fields else ""
    return f"postgresql+psycopg2://{user}{password}@{host}:{fields.get('port', '5432')}/{name}"


def create_pg_database() -> str | None:
    """A fresh database for the log, or None (said) when no PostgreSQL answers."""
    name = f"bench_logcost_{uuid.uuid4().hex[:10]}"
    try:
        _pg(f"CREATE DATABASE {name}")
    except Exception as exc:  # no server, no psycopg2, no rights: the SQLite side still runs
        say(f"  no PostgreSQL at {PG_DSN!r} ({str(exc).strip().splitlines()[0]}): SQLite only")
        return None
    return name


def drop_pg_database(name: str) -> None:
    try:
        _pg(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    except Exception as exc:
        say(f"  could not drop database {name}: {exc}")


def logged_rows(database: str, where) -> int | None:
    """Rows in the log's table, None when there is no table."""
    if database == "sqlite":
        with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(where)) as c:
            return c.execute("SELECT count(*) FROM prediction_log").fetchone()[0]
        return None
    import psycopg2

    with contextlib.suppress(psycopg2.Error):
        conn = psycopg2.connect(f"{PG_DSN} dbname={where}")  # the last dbname wins
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM prediction_log")
                return cur.fetchone()[0]
        finally:
            conn.close()
    return None


def metric_sum(base_url: str, pattern: re.Pattern) -> float:
    text = requests.get(f"{base_url}/metrics", timeout=30).text
    return sum(float(x) for x in pattern.findall(text))


# --- the phase ----------------------------------------------------------------------------------


def run(ctx) -> dict:
    workers = ctx.args.api_workers
    db = ctx.workdir / "prediction_log.db"
    db.unlink(missing_ok=True)
    where = {"sqlite": str(db)}
    urls = {"sqlite": f"sqlite:///{db}"}
    pg_name = create_pg_database()
    if pg_name:
        where["postgresql"], urls["postgresql"] = pg_name, pg_url(pg_name)
    try:
        return _run(ctx, workers, where, urls)
    finally:
        if pg_name:
            drop_pg_database(pg_name)


def _run(ctx, workers: int, where: dict, urls: dict) -> dict:
    apis = {"off": ctx.api(workers, "logcost_off")}
    for database, url in urls.items():
        apis[database] = ctx.api(workers, f"logcost_{database}", {"PREDICTION_LOG_URL": url})
    files = {n: bodies.write(ctx.workdir, f"predict_{n}", bodies.predict(n)) for n in SHAPES}
    for api in apis.values():
        for body in files.values():
            harness.warm_up(f"{api.base_url}/predict", body.read_bytes(), WARM_REQUESTS)

    def cell(key: str, n: int):
        def go(_round: int) -> dict:
            api = apis[key]
            meter = harness.CpuMeter(api.proc.pid)
            r = ctx.wrk.run(f"{api.base_url}/predict", files[n], CONCURRENCY, ctx.args.duration)
            r.update(meter.per_request_us(r["requests"]))
            say(
                f"  log {key}, {n} row{'s' * (n > 1)}: {r['req_s']:.0f} req/s, "
                f"{r['cpu_us_per_request']:.0f} µs CPU/request "
                f"({r['background_cpu_us_per_request']:.1f} in background threads), "
                f"errors {r['errors']}"
            )
            return r

        return go

    sides = {f"{key}_{n}": cell(key, n) for n in SHAPES for key in apis}
    say(
        f"prediction log off vs on, {workers} workers, {ctx.args.rounds} rounds: {', '.join(sides)}"
    )
    runs = stats.interleave(ctx.args.rounds, sides)
    rows = {}
    for database in urls:
        api = apis[database]
        answered = round(metric_sum(api.base_url, ANSWERED))
        dropped = round(metric_sum(api.base_url, DROPPED))
        ctx.stop(api)  # SIGTERM: a clean shutdown writes what is still queued
        logged = logged_rows(database, where[database])
        rows[database] = {"answered": answered, "logged": logged, "dropped_counted": dropped}
        say(
            f"  {database}: {logged if logged is not None else 'no'} rows logged of {answered} "
            f"answered ({dropped} counted as dropped)"
        )
    ctx.stop(apis["off"])
    targets = [
        _target(runs, database, n, workers, rows[database]) for database in urls for n in SHAPES
    ]
    return {
        "targets": targets,
        "data": {"runs": runs, "api_workers": workers, "rows": rows, "databases": list(urls)},
    }


def rows_lost(rows: dict) -> int:
    """Answered rows the log does not hold (all of them when it holds no table)."""
    return rows["answered"] - (rows["logged"] or 0)


def _target(runs: dict, database: str, n: int, workers: int, rows: dict) -> dict:
    shape = "1 row" if n == 1 else f"{n}-row batches"
    suffix = "" if database == "sqlite" else f"_{database}"

    def side(key, field, unit, label):
        return results.side(label, unit, [r[field] for r in runs[f"{key}_{n}"]])

    t = results.cost_target(
        f"log_cost{suffix}_{n}",
        f"prediction log cost, {DATABASES[database]}: API CPU per request, log on vs off "
        f"(/predict, {shape}, concurrency 16, {workers} workers)",
        side(database, "cpu_us_per_request", "µs", "log on"),
        side("off", "cpu_us_per_request", "µs", "log off"),
        GOAL_PCT,
    )
    on_rps = side(database, "req_s", "req/s", "on")
    off_rps = side("off", "req_s", "req/s", "off")
    lost = rows_lost(rows)
    logged = "no" if rows["logged"] is None else f"{rows['logged']:,}"
    t["rows"] = {**rows, "lost": lost}
    t["detail"] = (
        f"req/s on {stats.fmt(on_rps)} vs off {stats.fmt(off_rps)}; rows logged {logged} of "
        f"{rows['answered']:,} answered (this API, both shapes)"
    )
    if lost > 0:  # a log that drops rows: no CPU figure makes it "met"
        t["verdict"] = stats.NOT_MET
        t["median_meets_goal"] = False
        t["detail"] += f", {lost:,} LOST"
    return t
