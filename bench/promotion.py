"""Safe promotion's costs: the shadow challenger and swaps by webhook.

shadow: two APIs side by side with a `challenger` alias set, TALLER_SHADOW_FRACTION 0 and 0.1;
/predict one row at concurrency 16, interleaved off, on, ...; CPU per request of each API's
process tree (req/s and p50 beside it). Reported as within noise or not.

swaps: the API polls every 600 s and is told of alias moves by MLflow's signed webhook; each move
of @production between two trained versions is timed from set_registered_model_alias to the
first /predict answered by the new version, while a client predicts all the time (its failures
are counted). `--rounds` rounds of `--moves` moves; the verdict is on the median of the rounds'
p95. Polling (MODEL_REFRESH_SECONDS 30, no webhook) is timed over `--poll-moves` moves as the
reference.
"""

import json
import secrets
import threading
import time

import requests

from bench import MODEL, SEED_BODY, bodies, harness, results, say, stats

SWAP_GOAL_S = 2.0
WEBHOOK_NAME = "bench-alias-moves"
WEBHOOK_EVENTS = ["model_version_alias.created", "model_version_alias.deleted"]
POLL_SECONDS = 30


def shadow_rows(base_url: str) -> float | None:
    """api_shadow_rows_total summed over its series in /metrics; None when it has none."""
    try:
        text = requests.get(f"{base_url}/metrics", timeout=30).text
    except requests.RequestException:
        return None
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("api_shadow_rows_total")
    ]
    return sum(values) if values else None


def shadow(ctx) -> dict:
    ctx.ensure_versions(2)
    client = ctx.stack.client()
    challenger = ctx.other_version()
    client.set_registered_model_alias(MODEL, "challenger", challenger)
    try:
        return _shadow(ctx, challenger)
    finally:
        client.delete_registered_model_alias(MODEL, "challenger")


def _shadow(ctx, challenger: str) -> dict:
    workers = ctx.args.api_workers
    fraction = ctx.args.shadow_fraction
    apis = {
        "off": ctx.api(workers, "shadow_off", {"TALLER_SHADOW_FRACTION": 0}),
        "on": ctx.api(workers, "shadow_on", {"TALLER_SHADOW_FRACTION": fraction}),
    }
    body = bodies.write(ctx.workdir, "predict_1", bodies.predict(1))
    for api in apis.values():  # warm up, and let the shadow find and load its challenger
        harness.warm_up(f"{api.base_url}/predict", body.read_bytes(), 300)
    time.sleep(1)

    def cell(key: str):
        def go(n: int) -> dict:
            api = apis[key]
            meter = harness.CpuMeter(api.proc.pid)
            r = ctx.wrk.run(f"{api.base_url}/predict", body, 16, ctx.args.duration)
            r.update(meter.per_request_us(r["requests"]))
            say(
                f"  shadow {key}: {r['req_s']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, "
                f"{r['cpu_us_per_request']:.0f} µs CPU/request, errors {r['errors']}"
            )
            return r

        return go

    say(f"shadow off vs on ({fraction:.0%}), {ctx.args.rounds} rounds")
    runs = stats.interleave(ctx.args.rounds, {"off": cell("off"), "on": cell("on")})
    time.sleep(0.5)  # the shadow scores what arrived every 0.1 s
    scored = shadow_rows(apis["on"].base_url)
    ctx.stop(apis["on"])
    ctx.stop(apis["off"])

    def side(key, field, unit, label):
        return results.side(label, unit, [r[field] for r in runs[key]])

    target = results.cost_target(
        "shadow_cost",
        f"shadow challenger cost: API CPU per request, TALLER_SHADOW_FRACTION {fraction:g} with a "
        f"`challenger` alias vs 0 (/predict 1 row, concurrency 16, {workers} workers)",
        side("on", "cpu_us_per_request", "µs", "shadow on"),
        side("off", "cpu_us_per_request", "µs", "shadow off"),
        None,
    )
    on_p50, off_p50 = side("on", "p50_ms", "ms", "on"), side("off", "p50_ms", "ms", "off")
    on_rps, off_rps = side("on", "req_s", "req/s", "on"), side("off", "req_s", "req/s", "off")
    target["detail"] = (
        f"req/s on {stats.fmt(on_rps)} vs off {stats.fmt(off_rps)}; p50 on "
        f"{stats.fmt(on_p50)} vs off {stats.fmt(off_p50, 'ms')}; shadow rows scored "
        f"(one worker's /metrics): {'n/a' if scored is None else f'{scored:.0f}'}"
    )
    return {
        "targets": [target],
        "data": {
            "runs": runs,
            "fraction": fraction,
            "challenger_version": challenger,
            "production_version": ctx.production(),
            "shadow_rows_scored": scored,
        },
    }


# --- swaps --------------------------------------------------------------------------------------


class Hammer:
    """A thread predicting all the time (5 ms apart); every non-200 or transport error is kept."""

    def __init__(self, base_url: str):
        self.url, self.requests, self.failures = f"{base_url}/predict", 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Hammer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        with requests.Session() as http:
            while not self._stop.is_set():
                try:
                    r = http.post(self.url, json=SEED_BODY, timeout=30)
                    if r.status_code != 200:
                        self.failures.append(f"{r.status_code} {r.text[:200]}")
                except requests.RequestException as exc:
                    self.failures.append(repr(exc))
                self.requests += 1
                self._stop.wait(0.005)


def served_version(http: requests.Session, base_url: str) -> str:
    response = http.post(f"{base_url}/predict", json=SEED_BODY, timeout=30)
    response.raise_for_status()
    return str(response.json()["version"])


def move_and_time(client, http, base_url: str, target: str, limit: float) -> float:
    """Seconds from the alias move until /predict answers with `target` (inf after `limit`)."""
    started = time.perf_counter()
    client.set_registered_model_alias(MODEL, "production", target)
    while time.perf_counter() - started < limit:
        if served_version(http, base_url) == target:
            return time.perf_counter() - started
        time.sleep(0.01)
    return float("inf")


def moves(client, base_url: str, pair: tuple[str, str], count: int, limit: float) -> dict:
    latencies = []
    with requests.Session() as http, Hammer(base_url) as hammer:
        for _ in range(count):
            current = served_version(http, base_url)
            target = pair[1] if current == pair[0] else pair[0]
            latencies.append(move_and_time(client, http, base_url, target, limit))
    return {
        "latencies_s": latencies,
        "p50_s": stats.percentile(latencies, 50),
        "p95_s": stats.percentile(latencies, 95),
        "max_s": max(latencies),
        "requests_during": hammer.requests,
        "failed_requests": len(hammer.failures),
        "failure_sample": hammer.failures[:3],
    }


def swaps(ctx) -> dict:
    ctx.ensure_versions(2)
    client = ctx.stack.client()
    first = ctx.production()
    pair = (first, ctx.other_version())
    secret = secrets.token_hex(16)
    api = ctx.api(
        1,
        "swaps_webhook",
        {
            "TALLER_WEBHOOK_SECRET": secret,
            "MODEL_REFRESH_SECONDS": 600,
            "TALLER_SHADOW_FRACTION": 0,
        },
    )
    hook = client.create_webhook(
        WEBHOOK_NAME,
        f"{api.base_url}/webhooks/mlflow",
        WEBHOOK_EVENTS,
        secret=secret,
        status="ACTIVE",
    )
    try:
        time.sleep(2)  # MLflow caches who listens to an event (MLFLOW_WEBHOOK_CACHE_TTL=1 here)
        harness.warm_up(f"{api.base_url}/predict", json.dumps(SEED_BODY).encode(), 20)
        say(
            f"webhook swaps: {ctx.args.rounds} rounds of {ctx.args.moves} moves between v{pair[0]} and v{pair[1]}"
        )
        rounds = []
        for n in range(ctx.args.rounds):
            r = moves(client, api.base_url, pair, ctx.args.moves, 60)
            say(
                f"  round {n + 1}: p50 {r['p50_s']:.3f} s, p95 {r['p95_s']:.3f} s, failed "
                f"{r['failed_requests']} of {r['requests_during']}"
            )
            rounds.append(r)
    finally:
        ctx.stop(api)
        client.delete_webhook(hook.webhook_id)
    polling = None
    if ctx.args.poll_moves:
        say(
            f"polling swaps (MODEL_REFRESH_SECONDS={POLL_SECONDS}, no webhook): {ctx.args.poll_moves} moves"
        )
        api = ctx.api(
            1, "swaps_poll", {"MODEL_REFRESH_SECONDS": POLL_SECONDS, "TALLER_SHADOW_FRACTION": 0}
        )
        polling = moves(client, api.base_url, pair, ctx.args.poll_moves, POLL_SECONDS * 3)
        say(f"  polling: p50 {polling['p50_s']:.2f} s, max {polling['max_s']:.2f} s")
        ctx.stop(api)
    client.set_registered_model_alias(MODEL, "production", first)
    p95 = results.side("webhook swap p95 per round", "s", [r["p95_s"] for r in rounds])
    p50 = results.side("webhook swap p50 per round", "s", [r["p50_s"] for r in rounds])
    reference = (
        results.side("polling swap (every 30 s)", "s", polling["latencies_s"]) if polling else None
    )
    target = results.value_target(
        "webhook_swap_p95",
        f"webhook swap latency, p95 of {ctx.args.moves} alias moves per round (reference: "
        f"polling every {POLL_SECONDS} s)",
        p95,
        SWAP_GOAL_S,
        reference=reference,
    )
    failed = sum(r["failed_requests"] for r in rounds)
    sent = sum(r["requests_during"] for r in rounds)
    target["detail"] = (
        f"p50 {stats.fmt(p50, 's')}; {failed} of {sent} requests failed during the moves"
    )
    return {
        "targets": [target],
        "data": {"pair": pair, "rounds": rounds, "polling": polling, "p50": p50},
    }
