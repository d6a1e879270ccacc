"""One row at a time: the API's /predict (the seed's body) vs `mlflow models serve`'s
/invocations (the same penguin as `dataframe_split`), equal workers, 1 vs 1 then 2 vs 2. Both
servers run side by side on the server cores; each round loads the API at concurrency 16, then
serve at 16, then the API at concurrency 1, then serve at 1. After each concurrency-16 cell the
server's RSS (its whole process tree) is read: memory is compared after warm-up and load."""

import json

from bench import bodies, harness, results, say, stats

THROUGHPUT_GOAL = 20.0  # /predict req/s ≥ 20× serve, c=16
P50_GOAL_MS = 1.0  # /predict p50 at c=1
MEMORY_GOAL = 0.5  # API RSS ≤ 0.5× serve
WORKERS = (1, 2)
WARM_SECONDS = 2


def cell(ctx, server, url: str, body, conns: int) -> dict:
    meter = harness.CpuMeter(server.proc.pid)
    r = ctx.wrk.run(url, body, conns, ctx.args.duration)
    r.update(meter.per_request_us(r["requests"]))
    r["rss_mib"], r["processes"] = harness.tree_rss_mib(server.proc.pid)
    say(
        f"  {server.name} c={conns}: {r['req_s']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, "
        f"p99 {r['p99_ms']:.2f} ms, {r['cpu_us_per_request']:.0f} µs CPU/request, "
        f"RSS {r['rss_mib']:.0f} MiB, errors {r['errors']}"
    )
    return r


def pair(ctx, workers: int) -> dict:
    api_body = bodies.write(ctx.workdir, "predict_1", bodies.predict(1))
    serve_body = bodies.write(ctx.workdir, "split_1", bodies.split(1))
    api = ctx.api(workers, f"serving_api_{workers}w")
    serve = ctx.serve(workers, f"serving_serve_{workers}w")
    targets = {
        "api": (api, f"{api.base_url}/predict", api_body),
        "serve": (serve, f"{serve.base_url}/invocations", serve_body),
    }
    first = {}
    for name, (_server, url, body) in targets.items():
        first[name] = harness.answer(url, body.read_bytes())
        harness.warm_up(url, body.read_bytes())
        ctx.wrk.run(url, body, 16, WARM_SECONDS)  # every worker warm before the first round
    sides = {
        f"{name}_c{conns}": (lambda n, t=targets[name], c=conns: cell(ctx, t[0], t[1], t[2], c))
        for conns in (16, 1)
        for name in ("api", "serve")
    }
    say(f"one row, {workers} vs {workers} workers, {ctx.args.rounds} rounds: {', '.join(sides)}")
    runs = stats.interleave(ctx.args.rounds, sides)
    ctx.stop(serve)
    ctx.stop(api)
    return {"runs": runs, "first_answers": first}


def targets_for(workers: int, runs: dict) -> list[dict]:
    w = f"{workers} vs {workers} worker{'s' * (workers > 1)}"

    def side(key, label, field, unit):
        return results.side(label, unit, [r[field] for r in runs[key]])

    return [
        results.ratio_target(
            f"predict_c16_vs_serve_{workers}v{workers}",
            f"/predict 1 row, concurrency 16, req/s vs `mlflow models serve` ({w})",
            side("api_c16", "API /predict", "req_s", "req/s"),
            side("serve_c16", "`mlflow models serve` /invocations", "req_s", "req/s"),
            THROUGHPUT_GOAL,
        ),
        results.value_target(
            f"predict_p50_c1_{workers}w",
            f"/predict 1 row, concurrency 1, p50 ({w}; reference: `mlflow models serve`)",
            side("api_c1", "API /predict p50", "p50_ms", "ms"),
            P50_GOAL_MS,
            reference=side("serve_c1", "`mlflow models serve` p50", "p50_ms", "ms"),
        ),
        results.ratio_target(
            f"memory_{workers}v{workers}",
            f"RSS of the whole process tree after warm-up and a load cell ({w})",
            side("api_c16", "API", "rss_mib", "MiB"),
            side("serve_c16", "`mlflow models serve`", "rss_mib", "MiB"),
            MEMORY_GOAL,
            at_most=True,
        ),
    ]


def run(ctx) -> dict:
    version = ctx.production()
    data, targets = {"model_version": version}, []
    for workers in WORKERS:
        data[f"{workers}v{workers}"] = got = pair(ctx, workers)
        targets += targets_for(workers, got["runs"])
    cpu = {
        key: results.side(key, "µs", [r["cpu_us_per_request"] for r in rs])
        for w in WORKERS
        for key, rs in (
            (f"{k}_{w}w", data[f"{w}v{w}"]["runs"][k]) for k in ("api_c16", "serve_c16")
        )
    }
    data["cpu_us_per_request"] = cpu
    data["bodies"] = {"api": json.dumps(bodies.predict(1)), "serve": json.dumps(bodies.split(1))}
    return {"targets": targets, "data": data}
