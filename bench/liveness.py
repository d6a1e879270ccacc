"""/health while 16 clients send 10,000-row /invocations batches: a prober on the load cores GETs
/health over one keep-alive connection every 20 ms during the loaded cell (from 0.5 s after wrk
starts to 0.5 s before it ends); each round also probes the idle API for 1 s first, as the
reference, once the previous cell's batches have drained. The verdict is on the median over the rounds of each round's p99."""

import contextlib
import http.client
import threading
import time
from urllib.parse import urlsplit

import requests

from bench import bodies, results, say, stats

ROWS = 10_000
CONCURRENCY = 16
GOAL_MS = 100.0
PROBE_EVERY_S = 0.02
IDLE_SECONDS = 1.0


class Prober:
    """GET /health back to back (PROBE_EVERY_S apart) until stopped; latencies in ms."""

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                conn.request("GET", "/health")
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    self.errors.append(f"HTTP {response.status}")
                else:
                    self.latencies.append(1000 * (time.perf_counter() - started))
            except (OSError, http.client.HTTPException) as exc:
                self.errors.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            self._stop.wait(PROBE_EVERY_S)
        conn.close()

    def __enter__(self) -> "Prober":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(60)

    def summary(self) -> dict:
        lat = self.latencies or [float("nan")]
        return {
            "probes": len(self.latencies),
            "errors": len(self.errors),
            "error_sample": self.errors[:3],
            "p50_ms": stats.percentile(lat, 50),
            "p99_ms": stats.percentile(lat, 99),
            "max_ms": max(lat),
        }


def drain(base_url: str, timeout: float = 30) -> None:
    """Wait until the batches still in flight from the last cell are done: /health answers in
    under 20 ms five times in a row (or `timeout` passes)."""
    fast, deadline = 0, time.monotonic() + timeout
    while fast < 5 and time.monotonic() < deadline:
        started = time.perf_counter()
        with contextlib.suppress(requests.RequestException):
            requests.get(f"{base_url}/health", timeout=30)
        fast = fast + 1 if time.perf_counter() - started < 0.02 else 0
        time.sleep(0.05)


def run(ctx) -> dict:
    workers = ctx.args.api_workers
    api = ctx.api(workers, "health_api")
    url = f"{api.base_url}/invocations"
    body = bodies.write(ctx.workdir, "split_10000", bodies.split(ROWS))
    ctx.wrk.run(url, body, CONCURRENCY, 2)  # warm: every worker has parsed a large batch
    seconds = max(2.0, ctx.args.duration)

    def idle(n: int) -> dict:
        drain(api.base_url)
        with Prober(api.base_url) as p:
            time.sleep(IDLE_SECONDS)
        return p.summary()

    def loaded(n: int) -> dict:
        proc = ctx.wrk.start(url, body, CONCURRENCY, seconds)
        time.sleep(0.5)
        with Prober(api.base_url) as p:
            time.sleep(seconds - 1.0)
        load = ctx.wrk.result(proc, seconds)
        out = {**p.summary(), "load": load, "rows_s": load["req_s"] * ROWS}
        say(
            f"  /health under load: p50 {out['p50_ms']:.1f} ms, p99 {out['p99_ms']:.1f} ms, max "
            f"{out['max_ms']:.1f} ms over {out['probes']} probes; load {out['rows_s']:.0f} "
            f"rows/s, errors {load['errors']}"
        )
        return out

    say(f"/health under 10,000-row batches at concurrency 16, {ctx.args.rounds} rounds")
    runs = stats.interleave(ctx.args.rounds, {"idle": idle, "loaded": loaded})
    ctx.stop(api)

    def side(key, field, label):
        return results.side(label, "ms", [r[field] for r in runs[key]])

    target = results.value_target(
        "health_under_batches",
        f"/health p99 while 16 clients send 10,000-row /invocations batches (API with {workers} "
        f"worker{'s' * (workers > 1)}; reference: idle)",
        side("loaded", "p99_ms", "/health p99 under load"),
        GOAL_MS,
        reference=side("idle", "p99_ms", "/health p99 idle"),
    )
    p50, mx = side("loaded", "p50_ms", "p50"), side("loaded", "max_ms", "max")
    target["detail"] = f"under load: p50 {stats.fmt(p50, 'ms')}, max {stats.fmt(mx, 'ms')}"
    return {
        "targets": [target],
        "data": {
            "runs": runs,
            "api_workers": workers,
            "loaded_p50_ms": p50,
            "loaded_max_ms": mx,
            "load_rows_s": results.side("rows/s", "rows/s", [r["rows_s"] for r in runs["loaded"]]),
        },
    }
