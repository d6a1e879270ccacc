"""The load: wrk against a server (its own process, 1 thread), and threads calling scikit-learn."""

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from bench import BATCH, say

CONCURRENCY = (1, 16)
# Each cell's results as one JSON line from wrk's own `done` hook: no parsing of its text report.
WRK_LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
"""
ERRORS = ("connect", "read", "write", "status", "timeout")


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if not wrk:
        raise SystemExit("wrk not found: install it with `apt-get install wrk` (Debian's package)")
    return wrk


class Wrk:
    """wrk with the benchmark's Lua script, written once into the run's work directory."""

    def __init__(self, exe: str, workdir: Path):
        self.exe, self.lua = exe, workdir / "post.lua"
        self.lua.write_text(WRK_LUA)

    def run(self, url: str, body_path: Path, conns: int, seconds: float) -> dict:
        cmd = [self.exe, "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", "30s"]
        proc = subprocess.run(
            cmd + ["-s", str(self.lua), url],
            env={**os.environ, "BENCH_BODY": str(body_path)},
            capture_output=True,
            text=True,
            timeout=seconds + 120,
        )
        line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk failed: {proc.stdout}\n{proc.stderr}")
        raw = json.loads(line.removeprefix("BENCH_JSON "))
        secs = raw["duration_us"] / 1e6
        return {
            "requests": raw["requests"],
            "seconds": round(secs, 2),
            "req_s": raw["requests"] / secs,
            "p50_ms": raw["p50_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000,
            "errors": sum(raw[k] for k in ERRORS),
            "error_detail": {k: raw[k] for k in ERRORS},
        }


def penguin_rows() -> list[dict]:
    """Every penguin the API can be asked about, in the API's shape."""
    from taller_mlflow.fastpath import verification_rows

    return verification_rows()


def batch_of(rows: list[dict], n: int = BATCH) -> list[dict]:
    return [rows[i % len(rows)] for i in range(n)]


def write_bodies(workdir: Path, prefix: str, single, batch) -> dict[str, tuple[Path, int]]:
    """The two request bodies of a target, as files for wrk: shape -> (path, rows per request)."""
    bodies = {}
    for shape, body, rows in (("single", single, 1), ("batch", batch, BATCH)):
        path = workdir / f"{prefix}_{shape}.json"
        path.write_text(json.dumps(body))
        bodies[shape] = (path, rows)
    return bodies


def report_cell(r: dict, unit: str = "req/s") -> None:
    say(
        f"  {r['req_s']:.0f} {unit}, {r['rows_s']:.0f} rows/s, p50 {r['p50_ms']:.2f} ms,"
        f" p99 {r['p99_ms']:.2f} ms, errors {r['errors']}"
    )


def load_server(name: str, wrk: Wrk, url: str, bodies: dict, duration: float) -> dict:
    """Every cell (shape × concurrency) against one server; keyed `single/c1` ... `batch/c16`."""
    out = {}
    for shape, (path, rows) in bodies.items():
        for conns in CONCURRENCY:
            say(f"{name}: {shape}, concurrency {conns}, {duration:.0f}s")
            r = wrk.run(url, path, conns, duration)
            r["rows_s"] = r["req_s"] * rows
            r["loadavg_after"] = round(os.getloadavg()[0], 2)
            out[f"{shape}/c{conns}"] = r
            report_cell(r)
    return out


def thread_cell(predict, frame, rows: int, threads: int, duration: float) -> dict:
    """`threads` threads calling predict(frame) back to back for `duration` seconds."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    stop = time.perf_counter() + duration

    def loop(mine: list[float]) -> None:
        while (t0 := time.perf_counter()) < stop:
            predict(frame)
            mine.append(time.perf_counter() - t0)

    started = time.perf_counter()
    workers = [threading.Thread(target=loop, args=(lat,)) for lat in latencies]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    flat = sorted(x for lat in latencies for x in lat)
    n = len(flat)
    return {
        "requests": n,
        "seconds": round(elapsed, 2),
        "req_s": n / elapsed,
        "rows_s": n * rows / elapsed,
        "p50_ms": flat[n // 2] * 1000,
        "p99_ms": flat[min(n - 1, int(n * 0.99))] * 1000,
        "errors": 0,
    }


def load_in_process(predict, frames: dict, duration: float) -> dict:
    """The same cells as load_server, with threads of this process in place of connections."""
    out = {}
    for shape, (frame, rows) in frames.items():
        predict(frame)  # warm
        for threads in CONCURRENCY:
            say(f"in-process scikit-learn: {shape}, {threads} thread(s), {duration:.0f}s")
            out[f"{shape}/c{threads}"] = r = thread_cell(predict, frame, rows, threads, duration)
            report_cell(r, unit="calls/s")
    return out
