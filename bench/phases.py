"""One benchmark run, target by target, on one registered version; returns every number."""

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import BATCH, MODEL, harness, logcost, protocols, say
from bench.load import Wrk, batch_of, load_in_process, load_server, penguin_rows, write_bodies
from bench.training import time_training
from taller_mlflow.local.servers import Server, free_port


@dataclass
class Run:
    """What every phase shares: wrk, the work dir, the cell length, the tracking server, the
    registered version under test, the penguins, and the servers to stop at the end."""

    wrk: Wrk
    workdir: Path
    duration: float
    matrix_duration: float = 5.0
    tracking_uri: str = ""
    version: str = ""
    rows: list[dict] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)

    def server(self, server: Server) -> Server:
        self.servers.append(server)  # stopped on the way out, however the run ends
        return server


def mlflow_serve_phase(run: Run, res: dict) -> None:
    """(a) `mlflow models serve` on the version: start-up, every load cell, RSS."""
    single, batch = {"dataframe_records": [run.rows[0]]}, {"dataframe_records": batch_of(run.rows)}
    bodies = write_bodies(run.workdir, "serve", single, batch)
    port, uri = free_port(), f"models:/{MODEL}/{run.version}"
    serve = run.server(
        harness.mlflow_serve(uri, port, run.tracking_uri, run.workdir / "mlflow_serve.log")
    )
    say(f"(a) starting mlflow models serve -m {uri}")
    url, body = f"http://127.0.0.1:{port}/invocations", bodies["single"][0].read_bytes()
    res["startup"]["mlflow_serve_first_prediction_s"] = harness.start_timed(serve, url, body)
    res["mlflow_serve_first_answer"] = harness.first_answer(url, body)
    cells = load_server("(a) mlflow serve", run.wrk, url, bodies, run.duration)
    cells["rss_mib"], cells["processes"] = harness.tree_rss_mib(serve.proc.pid)
    res["mlflow_serve"] = cells
    res["matrix"]["serve"] = protocols.matrix(
        "(a) serve",
        run.wrk,
        url,
        protocols.split_body,
        run.rows,
        run.workdir,
        run.matrix_duration,
    )
    serve.stop()


def api_phase(run: Run, res: dict, workers: int, soak: float) -> None:
    """(b) this API: start-up, the verified fast path, every load cell, RSS, the long run."""
    model = {"model": f"{MODEL}/{run.version}"}
    single, batch = {**run.rows[0], **model}, [{**r, **model} for r in batch_of(run.rows)]
    bodies = write_bodies(run.workdir, "api", single, batch)
    port = free_port()
    api = run.server(harness.api(port, run.tracking_uri, run.workdir / "api.log", workers))
    say(f"(b) starting the API with {workers} workers")
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/predict"
    first = harness.start_timed(api, url, bodies["single"][0].read_bytes())
    res["startup"]["api_first_prediction_s"] = first
    res["api_inference"] = harness.wait_fast_path(base, run.version)
    # The listing answers from one worker: give the other time to finish its own fast path.
    time.sleep(3)
    harness.warm_up(url, bodies["batch"][0].read_bytes())
    cells = load_server("(b) API", run.wrk, url, bodies, run.duration)
    cells["rss_mib"], cells["processes"] = harness.tree_rss_mib(api.proc.pid)
    res["api"] = cells
    api_matrix(run, res, base)
    if soak > 0:
        say(f"(b) API long run: {soak:.0f}s at concurrency 16, one row")
        res["soak"] = k = run.wrk.run(url, bodies["single"][0], 16, soak)
        say(f"  {k['requests']} requests, {k['req_s']:.0f} req/s, errors {k['errors']}")
    api.stop()


def api_matrix(run: Run, res: dict, base: str) -> None:
    targets = {
        "invocations": (f"{base}/invocations?model={MODEL}/{run.version}", protocols.split_body),
        "v2": (f"{base}/v2/models/{MODEL}/versions/{run.version}/infer", protocols.v2_body),
        "predict": (f"{base}/predict", protocols.predict_body(run.version)),
    }
    for key, (url, make_body) in targets.items():
        sizes = [n for n in protocols.SIZES if key != "predict" or n <= protocols.PREDICT_MAX]
        res["matrix"][key] = protocols.matrix(
            f"(b) {key}",
            run.wrk,
            url,
            make_body,
            run.rows,
            run.workdir,
            run.matrix_duration,
            sizes,
        )


def in_process_phase(run: Run, res: dict) -> None:
    """(c) the same version's scikit-learn pipeline, called from threads of this process."""
    import mlflow
    import pandas as pd

    from taller_mlflow.penguins import FEATURES

    uri = f"models:/{MODEL}/{run.version}"
    say(f"(c) loading {uri} in this process")
    mlflow.set_tracking_uri(run.tracking_uri)
    mlflow.set_registry_uri(run.tracking_uri)
    sk_model = mlflow.sklearn.load_model(uri)
    frames = {
        "single": (pd.DataFrame([run.rows[0]], columns=FEATURES), 1),
        "batch": (pd.DataFrame(batch_of(run.rows), columns=FEATURES), BATCH),
    }
    res["sklearn_first_answer"] = str(sk_model.predict(frames["single"][0])[0])
    cells = load_in_process(sk_model.predict_proba, frames, run.duration)
    cells["rss_mib"], cells["processes"] = harness.own_rss_mib(), 1  # this process only
    res["sklearn_in_process"] = cells
    res["matrix"]["sklearn"] = protocols.in_process_matrix(
        sk_model.predict_proba, run.rows, run.matrix_duration
    )


def training_phase(run: Run, res: dict, data_url: str, repeats: int, quick: bool) -> None:
    res["training"] = t = time_training(run.tracking_uri, data_url, repeats, quick)
    run.version = res["model_version"] = t["model_version"]
    res["model_params"] = ", ".join(
        f"{k.split('__')[-1]}={val}" for k, val in t["best_params"].items()
    )


def run_all(wrk_exe: str, args) -> dict:
    """Every phase in order; the servers and the tracking stack are stopped whatever happens."""
    res: dict = {"machine": harness.machine(), "versions": harness.versions(wrk_exe)}
    res.update(duration_s=args.duration, notes=[], startup={}, matrix={})
    res["matrix_duration_s"] = args.matrix_duration
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    say(f"work dir {workdir}")
    run = Run(Wrk(wrk_exe, workdir), workdir, args.duration, args.matrix_duration)
    stack = None
    try:
        say("starting moto S3 + PostgreSQL database + MLflow server")
        stack, data_url = harness.tracking_stack(workdir)
        run.tracking_uri = stack.tracking_uri
        training_phase(run, res, data_url, args.train_repeats, args.quick)
        run.rows = penguin_rows()
        mlflow_serve_phase(run, res)
        api_phase(run, res, args.api_workers, args.soak)
        logcost.log_cost_phase(run, res, args.api_workers)
        in_process_phase(run, res)
    finally:
        for server in run.servers:
            server.stop()
        if stack:
            stack.close()
    res["machine"]["loadavg_at_end"] = harness.loadavg()
    return res


def run_log_cost(wrk_exe: str, args) -> dict:
    """`--only log-cost`: the tracking stack, one training, and the prediction log's cells."""
    from taller_mlflow.training.trainer import train

    res: dict = {"machine": harness.machine(), "duration_s": args.duration}
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    say(f"work dir {workdir}")
    run = Run(Wrk(wrk_exe, workdir), workdir, args.duration)
    stack = None
    try:
        stack, data_url = harness.tracking_stack(workdir)
        run.tracking_uri = stack.tracking_uri
        say("training once" + (" (2-combination grid)" if args.quick else ""))
        trained = train(stack.settings(data_url, quick_grid=args.quick), say=lambda _: None)
        run.version = res["model_version"] = trained.model_version
        run.rows = penguin_rows()
        logcost.log_cost_phase(run, res, args.api_workers)
    finally:
        for server in run.servers:
            server.stop()
        if stack:
            stack.close()
    res["machine"]["loadavg_at_end"] = harness.loadavg()
    return res
