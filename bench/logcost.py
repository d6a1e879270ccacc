"""The prediction log's cost: this API's /predict, one row, concurrency 16, with the log off and
on (SQLite in the work dir), in the same run. Two API processes start side by side and their
cells alternate off, on, off, on (5 rounds), so a change in the machine's load hits both; the best
cell of each is compared (noise only takes throughput away). The log-on API is stopped cleanly at the end
(its shutdown flushes the queue) and its rows counted against the requests wrk completed."""

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import psutil
import sqlalchemy as sa

from bench import MODEL, harness, say
from bench.load import write_bodies
from taller_mlflow.local.servers import free_port

ROUNDS = 5  # the best cell of each side is compared: more rounds, less luck in it
CONCURRENCY = 16
TARGET_PCT = 10.0  # the log may cost at most 10% of /predict's throughput


def log_cost_phase(run, res: dict, workers: int) -> None:
    model = {"model": f"{MODEL}/{run.version}"}
    single = {**run.rows[0], **model}
    body = write_bodies(run.workdir, "logcost", single, [single])["single"][0]
    log_url = f"sqlite:///{run.workdir / 'monitoring.db'}"
    apis, urls = {}, {}
    for key, env in (("off", {}), ("on", {"PREDICTION_LOG_URL": log_url})):
        port = free_port()
        log_path = run.workdir / f"api_log_{key}.log"
        apis[key] = run.server(harness.api(port, run.tracking_uri, log_path, workers, env))
        base = f"http://127.0.0.1:{port}"
        urls[key] = f"{base}/predict"
        say(f"(log cost) starting the API with the prediction log {key}, {workers} workers")
        harness.start_timed(apis[key], urls[key], body.read_bytes())
        harness.wait_fast_path(base, run.version)
    for key in apis:
        harness.warm_up(urls[key], body.read_bytes(), 200)
    cells: dict[str, list[dict]] = {"off": [], "on": []}
    for n in range(ROUNDS):
        for key in ("off", "on"):
            say(f"(log cost) log {key}, round {n + 1}: 1 row, concurrency {CONCURRENCY}")
            before = tree_cpu_seconds(apis[key].proc.pid)
            r = run.wrk.run(urls[key], body, CONCURRENCY, run.duration)
            after = tree_cpu_seconds(apis[key].proc.pid)
            per_request = {k: 1e6 * (after[k] - before[k]) / max(1, r["requests"]) for k in after}
            r["cpu_us_per_request"] = per_request["main"] + per_request["background"]
            r["background_cpu_us_per_request"] = per_request["background"]
            say(
                f"  {r['req_s']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, errors {r['errors']},"
                f" API CPU {r['cpu_us_per_request']:.0f} µs/request"
                f" ({per_request['background']:.1f} in background threads)"
            )
            cells[key].append(r)
    apis["on"].stop()  # SIGTERM: a clean shutdown writes what is still queued
    apis["off"].stop()
    off = max(c["req_s"] for c in cells["off"])
    on = max(c["req_s"] for c in cells["on"])
    cpu = {k: min(c["cpu_us_per_request"] for c in cells[k]) for k in cells}
    background = {k: min(c["background_cpu_us_per_request"] for c in cells[k]) for k in cells}
    res["log_cost"] = {
        "cells": cells,
        "off_req_s": off,
        "on_req_s": on,
        "cost_pct": 100.0 * (1 - on / off),
        # CPU per request is steadier than req/s on a shared machine: the same cost, measured
        # as the API processes' own CPU time (user + system, every worker) over the requests.
        "cpu_us_per_request": cpu,
        "cpu_cost_pct": 100.0 * (cpu["on"] / cpu["off"] - 1),
        "background_cpu_us_per_request": background,
        "requests_on": sum(c["requests"] for c in cells["on"]) + 200 + 1,
        "rows_logged": logged_rows(log_url),
    }
    say(
        f"(log cost) off {off:.0f} req/s, on {on:.0f} req/s: cost "
        f"{res['log_cost']['cost_pct']:.1f}%; {res['log_cost']['rows_logged']} rows logged of "
        f"{res['log_cost']['requests_on']} requests; API CPU per request "
        f"{cpu['off']:.0f} vs {cpu['on']:.0f} µs (+{res['log_cost']['cpu_cost_pct']:.1f}%)"
    )


def tree_cpu_seconds(pid: int) -> dict[str, float]:
    """User + system CPU time of a server's process tree (uvicorn master + workers), split into
    the processes' main threads (the event loops) and their other threads (the prediction log's
    writer, shadow scoring, the model refresher, the thread pool)."""
    total = {"main": 0.0, "background": 0.0}
    tick = os.sysconf("SC_CLK_TCK")
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            threads = os.listdir(f"/proc/{proc.pid}/task")
        except FileNotFoundError:
            continue
        for tid in threads:
            try:
                stat = Path(f"/proc/{proc.pid}/task/{tid}/stat").read_text()
            except FileNotFoundError:
                continue
            fields = stat.rsplit(")", 1)[1].split()  # after the command, which may hold spaces
            seconds = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
            total["main" if int(tid) == proc.pid else "background"] += seconds
    return total


def logged_rows(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM prediction_log")).scalar_one()
    finally:
        engine.dispose()


def verdict_row(res: dict) -> tuple:
    """For bench/report.py: (what, value, target key, higher is better, detail)."""
    c = res["log_cost"]
    return (
        "prediction log cost ≤ 10% of /predict req/s (1 row, concurrency 16, log on vs off)",
        c["cost_pct"],
        "log_cost_pct",
        False,
        f"{c['on_req_s']:.0f} vs {c['off_req_s']:.0f} req/s; API CPU per request "
        f"{c['cpu_us_per_request']['on']:.0f} vs {c['cpu_us_per_request']['off']:.0f} µs "
        f"({c['cpu_cost_pct']:+.1f}%); {c['rows_logged']} rows logged, {c['requests_on']} "
        "requests counted by wrk",
    )


def finish(res: dict, out: Path) -> str:
    """`python -m bench --only log-cost`: the one verdict, in log_cost.json beside latest.json."""
    from bench.report import verdict

    res["finished_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    what, value, _, up, detail = verdict_row(res)
    res["verdicts"] = [t := verdict(what, value, TARGET_PCT, up, detail)]
    out.mkdir(parents=True, exist_ok=True)
    (out / "log_cost.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    met = "met" if t["met"] else "NOT MET"
    return f"{what}: {value:.2f}% ({detail}), threshold {TARGET_PCT}%: {met}"
