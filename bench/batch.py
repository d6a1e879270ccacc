"""1000-row batches: the API's V2 infer (binary tensors) and /invocations (dataframe_split), rows/s
at concurrency 16, vs a tight in-process loop of the same version's scikit-learn
`predict_proba` on the same 1000-row DataFrame (one thread, pinned to the server cores like the
API). Interleaved V2, /invocations, scikit-learn, ... `--rounds` times."""

import time

from bench import MODEL, bodies, harness, results, say, stats

ROWS = 1000
CONCURRENCY = 16
GOAL = 10.0  # ≥ 10× in-process scikit-learn, both protocols


def sklearn_loop(predict_proba, frame, seconds: float) -> dict:
    calls, started = 0, time.perf_counter()
    stop = started + seconds
    while time.perf_counter() < stop:
        predict_proba(frame)
        calls += 1
    elapsed = time.perf_counter() - started
    return {"calls": calls, "seconds": elapsed, "rows_s": calls * ROWS / elapsed}


def load_sklearn(ctx, version: str):
    import mlflow

    mlflow.set_tracking_uri(ctx.tracking_uri)
    mlflow.set_registry_uri(ctx.tracking_uri)
    return mlflow.sklearn.load_model(f"models:/{MODEL}/{version}")


def run(ctx) -> dict:
    version = ctx.production()
    workers = ctx.args.api_workers
    api = ctx.api(workers, "batch_api")
    v2_bytes, v2_headers = bodies.v2_binary(ROWS)
    v2 = (
        f"{api.base_url}/v2/models/{MODEL}/infer",
        bodies.write(ctx.workdir, "v2_1000", v2_bytes),
        v2_headers,
    )
    inv = (
        f"{api.base_url}/invocations",
        bodies.write(ctx.workdir, "split_1000", bodies.split(ROWS)),
        None,
    )
    first = {}
    for name, (url, body, headers) in (("v2", v2), ("invocations", inv)):
        h = headers or harness.JSON
        first[name] = harness.answer(url, body.read_bytes(), h)
        harness.warm_up(url, body.read_bytes(), 20, h)
    model = load_sklearn(ctx, version)
    frame = bodies.frame(ROWS)
    first["sklearn"] = str(model.predict(frame)[0])
    for _ in range(20):
        model.predict_proba(frame)

    def http(url, body, headers, label):
        def go(n: int) -> dict:
            meter = harness.CpuMeter(api.proc.pid)
            r = ctx.wrk.run(url, body, CONCURRENCY, ctx.args.duration, headers)
            r.update(meter.per_request_us(r["requests"]))
            r["rows_s"] = r["req_s"] * ROWS
            say(
                f"  {label}: {r['rows_s']:.0f} rows/s, p50 {r['p50_ms']:.1f} ms, errors {r['errors']}"
            )
            return r

        return go

    def in_process(n: int) -> dict:
        with harness.thread_on(ctx.cores.servers):
            r = sklearn_loop(model.predict_proba, frame, ctx.args.duration)
        say(f"  in-process scikit-learn: {r['rows_s']:.0f} rows/s")
        return r

    say(f"1000-row batches, {ctx.args.rounds} rounds: V2 binary, /invocations, scikit-learn")
    runs = stats.interleave(
        ctx.args.rounds,
        {
            "v2": http(*v2, "V2 infer (binary tensors)"),
            "invocations": http(*inv, "/invocations dataframe_split"),
            "sklearn": in_process,
        },
    )
    ctx.stop(api)
    sk = results.side(
        "in-process scikit-learn predict_proba", "rows/s", [r["rows_s"] for r in runs["sklearn"]]
    )
    targets = [
        results.ratio_target(
            f"batch_{key}_vs_sklearn",
            f"{label}, 1000-row batches, concurrency 16, rows/s vs in-process scikit-learn "
            f"(API with {workers} worker{'s' * (workers > 1)})",
            results.side(label, "rows/s", [r["rows_s"] for r in runs[key]]),
            sk,
            GOAL,
        )
        for key, label in (
            ("v2", "V2 infer (binary tensors)"),
            ("invocations", "/invocations dataframe_split"),
        )
    ]
    return {
        "targets": targets,
        "data": {
            "model_version": version,
            "api_workers": workers,
            "runs": runs,
            "first_answers": {k: str(v)[:300] for k, v in first.items()},
        },
    }
