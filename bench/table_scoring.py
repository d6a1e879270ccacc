"""Batch scoring of a whole table (python -m taller_mlflow.batch's engine), rows/s:

    .venv/bin/python -m bench.table_scoring [--rows 1000000] [--rounds 5] [--out FILE]

Not a phase of `make bench` (whose bench/results/ and report hold its phases only): it writes its
JSON to --out, else to its work dir, and prints every target.

One trained, gate-verified version (the real pipeline, the 27-combination grid) and a table of
--rows generated penguins in SQLite (make run's database; 1% spoiled rows, as a survey has;
--data-url: another database, e.g. MySQL, which takes parallel writers as SQLite does not).
Each round, interleaved: the table scored into a fresh output table in this one process, then on
a local Dask cluster of 2 worker processes (1 thread each), then /invocations with 10,000-row
dataframe_split bodies from 2 client threads against the API with 2 workers, then in-process
scikit-learn predict_proba on a 10,000-row DataFrame, then the verified ONNX graph on the same
rows as a batch task scores them. Batch scoring's sides include reading and writing every row;
the last three only score. Every side as median (min–max) of the rounds, the verdicts on the
medians. On 2 cores nothing is pinned: the sides share every core in turn.
"""

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import requests
import sqlalchemy as sa

from bench import MODEL, ROOT, bodies, harness, results, say, stats

BATCH_ROWS = 10_000  # /invocations' largest batch (TALLER_PROTOCOL_MAX_ROWS)
CLUSTER_GOAL = 1.6  # the cluster vs one process, on 2 cores
SKLEARN_GOAL = 5.0  # batch scoring vs in-process scikit-learn


def trained_version(stack) -> str:
    from taller_mlflow.settings import Settings
    from taller_mlflow.training.trainer import release_workers, train

    settings = Settings(
        _env_file=None, data_url=stack.data_url, mlflow_tracking_uri=stack.tracking_uri
    )
    try:
        return train(settings, say=lambda _: None).model_version
    finally:
        release_workers()


def scorer(stack, data_url: str, version: str, partition_rows: int):
    """score(scheduler, label) -> rows/s of one whole run into a fresh output table."""
    from taller_mlflow.batch.batch_job import load_graph, score_table, stamp
    from taller_mlflow.batch.scorer import Job
    from taller_mlflow.serving.mlflow_rest import MlflowRest

    name, version, graph = load_graph(MlflowRest(stack.tracking_uri), f"{MODEL}/{version}", "")
    engine = sa.create_engine(data_url)

    def score(scheduler: str | None, label: str) -> dict:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS scored")
        job = Job(data_url, "survey", "id", data_url, "scored", stamp(name, version, label))
        r = score_table(job, graph, partition_rows, scheduler, 10.0, 0.05)
        say(f"  {label}: {r.rows_per_second:,.0f} rows/s ({r.rows} rows, {r.seconds:.1f} s)")
        return {"rows_s": r.rows_per_second, "seconds": r.seconds, "rows": r.rows, "bad": r.bad}

    score.graph = graph  # the scoring-only side scores with the same graph
    return score


def invocations(base_url: str, seconds: float, clients: int = 2) -> dict:
    body = json.dumps(bodies.split(BATCH_ROWS)).encode()
    headers = {"Content-Type": "application/json"}
    done, failed, stop = [0], [0], time.perf_counter() + seconds

    def client():
        with requests.Session() as http:
            while time.perf_counter() < stop:
                answer = http.post(
                    f"{base_url}/invocations", data=body, headers=headers, timeout=60
                )
                if answer.status_code == 200:
                    done[0] += 1
                else:
                    failed[0] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    rows_s = done[0] * BATCH_ROWS / elapsed
    say(f"  /invocations 10,000-row batches: {rows_s:,.0f} rows/s ({failed[0]} failed)")
    return {"rows_s": rows_s, "requests": done[0], "failed": failed[0], "seconds": elapsed}


def in_process_rows_s(predict_proba, rows, label: str, seconds: float) -> dict:
    """10,000-row calls for `seconds`: rows/s of scoring alone, in this process."""
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        predict_proba(rows)
        calls += 1
    rows_s = calls * BATCH_ROWS / (time.perf_counter() - started)
    say(f"  {label}: {rows_s:,.0f} rows/s")
    return {"rows_s": rows_s, "calls": calls}


def sklearn_rows_s(model, seconds: float) -> dict:
    frame = bodies.frame(BATCH_ROWS)
    return in_process_rows_s(model.predict_proba, frame, "in-process scikit-learn", seconds)


def graph_rows_s(graph, seconds: float) -> dict:
    """The verified graph alone, as every batch task scores with it (one onnxruntime thread), on
    the same 10,000 rows as scikit-learn: the scoring part of batch scoring, like for like."""
    from taller_mlflow.batch.scorer import session
    from taller_mlflow.penguins import FEATURES

    frame = bodies.frame(BATCH_ROWS)
    columns = {c: frame[c].to_numpy() for c in FEATURES}
    label = "the verified ONNX graph in process"
    return in_process_rows_s(session(graph).predict_proba, columns, label, seconds)


def targets(runs: dict, rows: int) -> list[dict]:
    def side(key, label):
        return results.side(label, "rows/s", [r["rows_s"] for r in runs[key]])

    one = side("one_process", f"batch scoring, {rows:,} rows, one process")
    cluster = side("cluster", f"batch scoring, {rows:,} rows, local Dask cluster of 2 workers")
    sk = side("sklearn", "in-process scikit-learn predict_proba, 10,000-row DataFrame")
    return [
        results.ratio_target(
            "table_cluster_vs_one_process",
            "batch scoring of a table (read, check, score, write): 2 Dask workers vs one process",
            cluster,
            one,
            CLUSTER_GOAL,
        ),
        results.ratio_target(
            "table_cluster_vs_sklearn",
            "batch scoring on 2 Dask workers vs in-process scikit-learn (scoring only)",
            cluster,
            sk,
            SKLEARN_GOAL,
        ),
        results.ratio_target(
            "table_graph_vs_sklearn",
            "scoring only, 10,000 rows at a time: the verified ONNX graph as a batch task runs it "
            "(one thread) vs in-process scikit-learn",
            side("graph", "the verified ONNX graph, in process, one thread"),
            sk,
            SKLEARN_GOAL,
        ),
        results.ratio_target(
            "table_cluster_vs_invocations",
            "batch scoring on 2 Dask workers vs /invocations 10,000-row batches (API, 2 workers)",
            cluster,
            side("invocations", "/invocations 10,000-row batches, 2 clients"),
            1.0,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.table_scoring", description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=stats.MIN_ROUNDS)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per HTTP/sklearn cell")
    p.add_argument("--out", type=Path, help="the JSON (default: in the work dir)")
    p.add_argument(
        "--data-url",
        help="database for the survey and its scores (default: SQLite in the work dir); "
        "e.g. mysql+pymysql://root@127.0.0.1:3306/bench, whose tables it replaces",
    )
    args = p.parse_args(argv)
    from distributed import LocalCluster

    from taller_mlflow.batch.survey import survey, write

    workdir = Path(tempfile.mkdtemp(prefix="bench-table-"))
    cores = harness.Cores.split()
    stack = harness.TrackingStack(workdir / "stack", cores)
    api = None
    try:
        say("training a version through the real pipeline (untimed)")
        version = trained_version(stack)
        data_url = args.data_url or f"sqlite:///{workdir / 'survey.db'}"
        say(f"writing {args.rows:,} generated penguins to {data_url}")
        write(data_url, "survey", survey(args.rows, 0.01, seed=0)[0])
        # 20 partitions: enough for both workers to stay busy to the end, few enough that the
        # per-task cost stays small.
        score = scorer(stack, data_url, version, max(1000, args.rows // 20))
        api = harness.api_server(ROOT, stack.tracking_uri, 2, workdir / "api.log")
        harness.start(api, cores.all)
        import mlflow

        mlflow.set_tracking_uri(stack.tracking_uri)
        model = mlflow.sklearn.load_model(f"models:/{MODEL}/{version}")
        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            runs = stats.interleave(
                args.rounds,
                {
                    "one_process": lambda n: score(None, f"one-process-{n}"),
                    "cluster": lambda n: score(cluster.scheduler_address, f"cluster-{n}"),
                    "invocations": lambda n: invocations(api.base_url, args.duration),
                    "sklearn": lambda n: sklearn_rows_s(model, args.duration),
                    "graph": lambda n: graph_rows_s(score.graph, args.duration),
                },
            )
    finally:
        if api is not None:
            api.stop()
        stack.close()
    payload = {
        "bench": "table_scoring",
        "finished_at": results.now(),
        "machine": harness.machine(),
        "commit": harness.git_info(ROOT),
        "settings": vars(args) | {"out": str(args.out)},
        "smoke": args.rounds < stats.MIN_ROUNDS,
        "targets": targets(runs, args.rows),
        "data": {"model_version": version, "runs": runs},
    }
    out = args.out or workdir / "table_scoring.json"
    out.write_text(json.dumps(payload, indent=1, default=str))
    from bench.__main__ import target_line

    for t in payload["targets"]:
        print(target_line(t), flush=True)
    say(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
