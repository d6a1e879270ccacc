"""wrk, the load generator: one thread in its own process, pinned to the load cores; each cell's
numbers come back as one JSON line from its Lua `done` hook (no parsing of its text report)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

from bench.harness import pin_to

# The body from a file (binary-safe), headers from BENCH_HEADERS ("Name: value" lines).
WRK_LUA = r"""
wrk.method = "POST"
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
  local k, v = line:match("^([^:]+):%s*(.*)$")
  if k then wrk.headers[k] = v end
end
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
JSON_HEADERS = {"Content-Type": "application/json"}


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if not wrk:
        raise SystemExit("wrk not found: install it with `apt-get install wrk` (Debian's package)")
    return wrk


class Wrk:
    """wrk with the benchmark's Lua script (written once into the run's work directory)."""

    def __init__(self, exe: str, workdir: Path, cores):
        self.exe, self.cores = exe, cores
        self.lua = workdir / "post.lua"
        self.lua.write_text(WRK_LUA)

    def start(
        self, url: str, body: Path, conns: int, seconds: float, headers=None
    ) -> subprocess.Popen:
        headers = headers or JSON_HEADERS
        cmd = [self.exe, "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", "30s"]
        env = {
            **os.environ,
            "BENCH_BODY": str(body),
            "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items()),
        }
        return subprocess.Popen(
            cmd + ["-s", str(self.lua), url],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=pin_to(self.cores),
        )

    @staticmethod
    def result(proc: subprocess.Popen, seconds: float) -> dict:
        out, err = proc.communicate(timeout=seconds + 120)
        line = next((x for x in out.splitlines() if x.startswith("BENCH_JSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk failed: {out}\n{err}")
        raw = json.loads(line.removeprefix("BENCH_JSON "))
        secs = raw["duration_us"] / 1e6
        return {
            "requests": raw["requests"],
            "seconds": round(secs, 3),
            "req_s": raw["requests"] / secs,
            "p50_ms": raw["p50_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000,
            "max_ms": raw["max_us"] / 1000,
            "errors": sum(raw[k] for k in ERRORS),
            "error_detail": {k: raw[k] for k in ERRORS},
        }

    def run(self, url: str, body: Path, conns: int, seconds: float, headers=None) -> dict:
        return self.result(self.start(url, body, conns, seconds, headers), seconds)
