"""The grid search and batch scoring on a real Dask cluster: a scheduler and 2 worker processes
(distributed's LocalCluster, processes=True), a real MLflow server on PostgreSQL and S3, MariaDB
tables, and the API over HTTP as the reference for predictions."""

import subprocess
import sys
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa
from distributed import Client, LocalCluster
from mlflow import MlflowClient

from taller_mlflow.batch.batch_cli import TOO_MANY_BAD_ROWS_EXIT
from taller_mlflow.batch.logged import EXPERIMENT
from taller_mlflow.batch.survey import survey, write
from taller_mlflow.local.servers import ROOT, api_server, free_port
from taller_mlflow.penguins import FEATURES, TARGET
from taller_mlflow.training.cluster import FITS, fits_on
from taller_mlflow.training.data import read_penguins
from taller_mlflow.training.model import PARAM_GRID, QUICK_GRID, build_search, split
from taller_mlflow.training.trainer import train
from tests.support.mysql import mysql_connect, mysql_url
from tests.support.services import start_stack

ROWS, BAD_SHARE = 100_000, 0.01


@pytest.fixture(scope="module")
def cluster():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as local,
        Client(local) as client,
    ):
        client.get_task_stream()  # the scheduler records its task stream from here on
        yield local.scheduler_address, client


@pytest.fixture(scope="module")
def trained(tmp_path_factory, penguins_mysql_url, cluster):
    address, client = cluster
    stack = start_stack(tmp_path_factory.mktemp("dask"))
    started = time.time()
    settings = stack.settings(penguins_mysql_url, dask_scheduler=address)
    result = train(settings, say=lambda _: None)
    stream = client.get_task_stream(start=started)
    yield stack, result, stream
    stack.close()


def test_the_grid_searchs_fits_ran_on_both_workers(trained, cluster):
    _, result, stream = trained
    address, client = cluster
    workers = set(client.scheduler_info()["workers"])
    fits = {}
    for task in stream:
        match = FITS.search(str(task["key"]))
        if match:
            fits[task["worker"]] = fits.get(task["worker"], 0) + int(match[1])
    assert set(fits) == workers and len(workers) == 2
    assert sum(fits.values()) == 27 * 5  # every fit of every fold, none run here
    assert result.fits_ran_on.startswith(f"{address}: 2 workers, tasks per worker")
    assert f"fits ran on     {address}" in result.summary()


def test_the_runs_registration_and_gate_are_those_of_a_local_training(trained):
    stack, result, _ = trained
    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    runs = client.search_runs([result.experiment_id], max_results=1000)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.run_id]
    assert len(children) == 27
    assert all("mean_test_score" in c.data.metrics for c in children)
    assert result.promoted
    production = client.get_model_version_by_alias("modelo_penguins", "production")
    assert production.version == result.model_version and production.run_id == result.run_id


def test_the_cluster_finds_the_best_params_a_local_search_finds(trained, penguins_mysql_url):
    _, result, _ = trained
    x_train, _, y_train, _ = split(read_penguins(penguins_mysql_url).frame)
    local = build_search(PARAM_GRID, verbose=0).fit(x_train, y_train)
    assert result.best_params == local.best_params_
    assert result.cv_score == pytest.approx(local.best_score_)


@pytest.fixture(scope="module")
def survey_db():
    name = f"batch_{uuid.uuid4().hex[:8]}"
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    url = mysql_url(name)
    rows, spoiled = survey(ROWS, BAD_SHARE, seed=7)
    write(url, "penguins_new", rows)
    yield url, rows, spoiled
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {name}")


def batch(stack, url, address, *extra) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "taller_mlflow.batch", "--model", "modelo_penguins@production"]
    cmd += ["--data-url", url, "--table", "penguins_new", "--out-table", "predictions_new"]
    cmd += ["--tracking-uri", stack.tracking_uri, "--dask-scheduler", address]
    cmd += ["--partition-rows", "20000", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def output(url: str) -> list[dict]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        query = sa.text("SELECT * FROM predictions_new ORDER BY id")
        rows = [dict(r._mapping) for r in conn.execute(query)]
    engine.dispose()
    return rows


@pytest.fixture(scope="module")
def scored(trained, survey_db, cluster):
    stack, result, _ = trained
    url, _, _ = survey_db
    first = batch(stack, url, cluster[0])
    assert first.returncode == 0, first.stderr
    return first, output(url)


def test_every_row_is_written_once_and_bad_rows_carry_reasons(scored, survey_db, trained):
    run, written = scored
    _, rows, spoiled = survey_db
    result = trained[1]
    assert len(written) == ROWS and [r["id"] for r in written] == [r["id"] for r in rows]
    bad = [r for r in written if r["reason"]]
    assert [r["id"] for r in bad] == spoiled and len(spoiled) == ROWS * BAD_SHARE
    assert all(r["prediction"] is None and r["probability_adelie"] is None for r in bad)
    assert {r["reason"].split(":")[0] for r in bad} == {
        "island",
        "sex",
        "body_mass_g",
        "culmen_depth_mm",
    }
    assert all(r["prediction"] for r in written if not r["reason"])
    assert {r["model_version"] for r in written} == {result.model_version}
    assert len({r["scored_at"] for r in written}) == 1
    assert "partitions per worker" in run.stdout and "1000 bad (1.00%" in run.stdout


def test_predictions_equal_the_apis_on_a_sample(scored, trained, survey_db, tmp_path):
    stack, _, _ = trained
    _, written = scored
    by_id = {r["id"]: r for r in survey_db[1]}
    sample = [r for r in written if not r["reason"]][::490][:200]
    assert len(sample) == 200
    port = free_port()
    api = api_server(port, stack.tracking_uri, tmp_path / "api.log").start(timeout=120)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            penguins = [{c: by_id[r["id"]][c] for c in FEATURES} for r in sample]
            answers = http.post("/predict", json=penguins)
    finally:
        api.stop()
    assert answers.status_code == 200, answers.text
    for row, answer in zip(sample, answers.json(), strict=True):
        assert answer["prediction"] == row["prediction"]
        for label, p in answer["probabilities"].items():
            assert row[f"probability_{label.lower()}"] == pytest.approx(p, abs=1e-5)


def test_a_rerun_adds_nothing_and_a_low_threshold_fails_it(scored, survey_db, trained, cluster):
    stack, _, _ = trained
    url, _, _ = survey_db
    again = batch(stack, url, cluster[0], "--bad-rows-threshold", "0.005")
    assert again.returncode == TOO_MANY_BAD_ROWS_EXIT, again.stderr
    assert again.stderr.strip().splitlines() == [
        "error: 1000 of 100000 rows are bad (1.00%), more than the threshold of 0.50%"
    ]
    assert len(output(url)) == ROWS


def test_each_batch_run_is_logged_in_mlflow(scored, trained):
    stack, result, _ = trained
    client = MlflowClient(stack.tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id])
    assert runs, "no batch run logged"
    metrics = runs[-1].data.metrics  # the first run
    assert metrics["rows"] == ROWS and metrics["bad_rows"] == ROWS * BAD_SHARE
    assert metrics["rows_per_second"] > 0 and metrics["seconds"] > 0
    assert runs[-1].data.tags["model_version"] == result.model_version


# A warning category only the client can import, as IPython's ProvisionalCompleterWarning is in a
# Jupyter kernel's warnings filters.
KernelOnlyWarning = type("KernelOnlyWarning", (Warning,), {"__module__": "no_such_package.kernel"})


def test_a_kernels_own_warning_filter_does_not_stall_the_search(cluster):
    """scikit-learn sends the caller's warnings filters with each fit; a filter whose category
    the scheduler cannot unpickle made it refuse the task graph, and the search waited for ever
    (the stack's notebook did). fits_on sends only the filters the workers can read."""
    import threading
    import warnings

    import pandas as pd

    frame = pd.read_csv(ROOT / "taller_mlflow" / "penguins_size.csv").dropna()
    frame = frame[frame["sex"].isin(["MALE", "FEMALE"])]
    search = build_search(QUICK_GRID, cv=2, n_jobs=-1, seed=42, verbose=0)
    done = {}

    def fit():
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=KernelOnlyWarning)
            with fits_on(cluster[0]) as where:
                search.fit(frame[FEATURES], frame[TARGET])
        done["where"] = where

    worker = threading.Thread(target=fit, daemon=True)
    worker.start()
    worker.join(300)  # a guard against the hang, not a speed check
    assert not worker.is_alive(), "the search stalled on the cluster"
    assert done["where"].workers == 2 and sum(done["where"].fits_per_worker.values()) == 4
