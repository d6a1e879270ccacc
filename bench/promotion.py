"""python -m bench.promotion: safe promotion's numbers, one run on this machine.

1. swap latency by webhook: the API polls every 600 s; `--moves` alias moves between two
   versions, each timed from the set_registered_model_alias call to the first /predict answer
   from the new version, while a client thread predicts all the time (its failures are counted);
2. swap latency by polling, for comparison: the same with no webhook and MODEL_REFRESH_SECONDS
   at its default (30 s), `--poll-moves` moves;
3. the shadow's cost: two APIs side by side with a `challenger` alias set, shadow off
   (TALLER_SHADOW_FRACTION=0) and on (`--shadow-fraction`, default 0.1), one row at
   concurrency 1 with wrk, cells alternating off/on `--rounds` times; the best p50 of each.

Writes bench/results/promotion.json and promotion.md. Needs wrk and PostgreSQL (as make bench).
"""

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import ROOT, say
from bench.load import Wrk, require_wrk
from taller_mlflow.serving.webhooks import ensure_webhook
from taller_mlflow.training.model import build_pipeline
from tests.support import ADELIE
from tests.support.models import fitted
from tests.support.promotion import (
    MODEL,
    Hammer,
    log_version,
    percentile,
    register_again,
    registry_client,
    served_version,
    start_api,
    start_webhook_stack,
    time_until_served,
)

SECRET = secrets.token_hex(16)


def swaps(client, base: str, versions: tuple[str, str], moves: int, limit: float) -> dict:
    latencies = []
    with httpx.Client(base_url=base, timeout=30) as http, Hammer(base) as hammer:
        for move in range(moves):
            target = (
                versions[(move + 1) % 2] if served_version(http) == versions[0] else versions[0]
            )
            started = time.perf_counter()
            client.set_registered_model_alias(MODEL, "production", target)
            took = time_until_served(http, target, started, limit)
            say(
                f"  move {move + 1}: v{target} served after {took if took is None else round(took, 3)} s"
            )
            latencies.append(took if took is not None else float("inf"))
    return {
        "moves": moves,
        "p50_s": round(percentile(latencies, 50), 3),
        "p95_s": round(percentile(latencies, 95), 3),
        "max_s": round(max(latencies), 3),
        "latencies_s": [round(x, 3) for x in latencies],
        "requests_during": hammer.requests,
        "failed_requests": len(hammer.failures),
    }


def shadow_cost(stack, workdir: Path, wrk: Wrk, fraction: float, rounds: int, seconds: float):
    body = workdir / "single.json"
    body.write_text(json.dumps(ADELIE))
    apis, urls = {}, {}
    for key, share in (("off", 0), ("on", fraction)):
        apis[key], base = start_api(
            stack, workdir, f"api_shadow_{key}.log", TALLER_SHADOW_FRACTION=share
        )
        urls[key] = f"{base}/predict"
        with httpx.Client(base_url=base, timeout=30) as http:
            for _ in range(200):  # warm up, and let the shadow find and load its challenger
                http.post("/predict", json=ADELIE)
    cells = {"off": [], "on": []}
    try:
        for n in range(rounds):
            for key in ("off", "on"):
                r = wrk.run(urls[key], body, 1, seconds)
                say(
                    f"  shadow {key}, round {n + 1}: p50 {r['p50_ms']:.3f} ms, {r['req_s']:.0f} req/s, errors {r['errors']}"
                )
                cells[key].append(r)
    finally:
        for server in apis.values():
            server.stop()
    p50 = {k: [c["p50_ms"] for c in cells[k]] for k in cells}
    off, on = min(p50["off"]), min(p50["on"])
    # The noise floor: how far the same server's p50 moves between rounds of this run.
    noise = max(p50["off"]) - min(p50["off"])
    return {
        "fraction": fraction,
        "p50_ms_off": round(off, 3),
        "p50_ms_on": round(on, 3),
        "p50_impact_ms": round(on - off, 3),
        "p50_impact_pct": round(100 * (on - off) / off, 1),
        "p50_ms_off_rounds": [round(x, 3) for x in p50["off"]],
        "p50_ms_on_rounds": [round(x, 3) for x in p50["on"]],
        "noise_ms": round(noise, 3),
        "within_noise": abs(on - off) <= noise,
        "errors": sum(c["errors"] for k in cells for c in cells[k]),
        "cells": cells,
    }


def markdown(res: dict) -> str:
    w, p, s = res["webhook"], res["polling"], res["shadow"]
    return "\n".join(
        [
            f"# Safe promotion ({res['when']}, load average {res['loadavg']})",
            "",
            "| measure | value | target |",
            "|---|---|---|",
            f"| swap by webhook, p50 / p95 over {w['moves']} moves | {w['p50_s']} s / {w['p95_s']} s"
            f" | p95 <= 2 s: {'met' if w['p95_s'] <= 2 else 'not met'} |",
            f"| failed requests during the webhook swaps | {w['failed_requests']} of {w['requests_during']} | 0 |",
            f"| swap by polling (MODEL_REFRESH_SECONDS=30), p50 / max over {p['moves']} moves"
            f" | {p['p50_s']} s / {p['max_s']} s | (the 28.5 s before) |",
            f"| /predict p50, shadow off / on ({s['fraction']:.0%} shadowed), concurrency 1, best"
            f" of {len(s['p50_ms_off_rounds'])} alternating rounds"
            f" | {s['p50_ms_off']} ms / {s['p50_ms_on']} ms ({s['p50_impact_ms']:+} ms,"
            f" {s['p50_impact_pct']:+}%); rounds off {s['p50_ms_off_rounds']}, on"
            f" {s['p50_ms_on_rounds']} | unchanged within noise (the off rounds' own spread,"
            f" {s['noise_ms']} ms): {'met' if s['within_noise'] else 'not met'} |",
            "",
        ]
    )


def run(args) -> dict:
    wrk = Wrk(require_wrk(), args.workdir)
    stack = start_webhook_stack(args.workdir / "stack")
    try:
        first, _ = log_version(stack)
        second = register_again(stack, first)
        challenger, _ = log_version(stack, fitted(build_pipeline(7)))
        client = registry_client(stack)
        client.set_registered_model_alias(MODEL, "production", first)
        say("webhook swaps (API polling every 600 s)")
        api, base = start_api(stack, args.workdir, "api_webhook.log", TALLER_WEBHOOK_SECRET=SECRET,
                              MODEL_REFRESH_SECONDS=600, TALLER_SHADOW_FRACTION=0)  # fmt: skip
        ensure_webhook(stack.tracking_uri, f"{base}/webhooks/mlflow", SECRET)
        webhook = swaps(client, base, (first, second), args.moves, 60)
        api.stop()
        say("polling swaps (no webhook, MODEL_REFRESH_SECONDS=30)")
        api, base = start_api(stack, args.workdir, "api_poll.log", TALLER_SHADOW_FRACTION=0)
        polling = swaps(client, base, (first, second), args.poll_moves, 90)
        api.stop()
        say("shadow cost")
        client.set_registered_model_alias(MODEL, "challenger", challenger)
        shadow = shadow_cost(
            stack, args.workdir, wrk, args.shadow_fraction, args.rounds, args.duration
        )
    finally:
        stack.close()
    return {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "webhook": webhook,
        "polling": polling,
        "shadow": shadow,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.promotion", description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)  # fmt: skip
    parser.add_argument("--moves", type=int, default=10, help="alias moves by webhook (10)")
    parser.add_argument("--poll-moves", type=int, default=2, help="alias moves by polling (2)")
    parser.add_argument("--shadow-fraction", type=float, default=0.1, help="shadowed share (0.1)")
    parser.add_argument("--rounds", type=int, default=5, help="off/on wrk rounds (5)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk cell (10)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    args.workdir = Path(tempfile.mkdtemp(prefix="bench-promotion-"))
    res = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "promotion.json").write_text(json.dumps(res, indent=2) + "\n")
    table = markdown(res)
    (args.out / "promotion.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
