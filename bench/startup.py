"""Spawn → first successful prediction, cold process, the model already in the registry: the API's
/predict (the seed's body) vs `mlflow models serve`'s /invocations (the same penguin), equal
workers (1 vs 1 and 2 vs 2), interleaved API, serve, API, serve, ... each process stopped after
its first answer."""

import json

from bench import bodies, harness, results, say, stats

FIRST_PREDICTION_GOAL_S = 1.0
WORKERS = (1, 2)


def run(ctx) -> dict:
    version = ctx.production()
    api_body = json.dumps(bodies.predict(1)).encode()
    serve_body = json.dumps(bodies.split(1)).encode()
    answers = {}

    def timed(kind: str, workers: int):
        def go(n: int) -> float:
            if kind == "api":
                server = ctx.api(workers, f"startup_api_{workers}w_{n}", start=False)
                url, body = f"{server.base_url}/predict", api_body
            else:
                server = ctx.serve(workers, f"startup_serve_{workers}w_{n}", start=False)
                url, body = f"{server.base_url}/invocations", serve_body
            try:
                seconds = harness.start_timed(server, ctx.cores.servers, url, body)
                answers.setdefault(f"{kind}_{workers}w", harness.answer(url, body))
            finally:
                ctx.stop(server)
            say(f"  {kind} ({workers} worker{'s' * (workers > 1)}), round {n + 1}: {seconds:.2f} s")
            return seconds

        return go

    sides = {f"{kind}_{w}w": timed(kind, w) for w in WORKERS for kind in ("api", "serve")}
    say(f"first prediction after spawn, {ctx.args.rounds} rounds: {', '.join(sides)}")
    runs = stats.interleave(ctx.args.rounds, sides)
    targets = []
    for w in WORKERS:
        label = f"{w} vs {w} worker{'s' * (w > 1)}"
        api = results.side(f"API, {w} worker{'s' * (w > 1)}", "s", runs[f"api_{w}w"])
        serve = results.side(f"`mlflow models serve`, {w}", "s", runs[f"serve_{w}w"])
        targets.append(
            results.value_target(
                f"first_prediction_{w}v{w}",
                f"first prediction after spawn ({label}; cold process, model in the registry)",
                api,
                FIRST_PREDICTION_GOAL_S,
                reference=serve,
            )
        )
    return {
        "targets": targets,
        "data": {"model_version": version, "runs": runs, "first_answers": answers},
    }
