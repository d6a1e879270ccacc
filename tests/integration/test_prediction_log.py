"""The prediction log against a real API, MLflow and PostgreSQL: every protocol lands a row, and a
database outage costs rows (counted), never predictions; writing resumes with no restart.

The log's database is a private PostgreSQL cluster (tests/support/pgcluster.py) prepared by the
stack's own init script, postgres-init/01-monitoring.sh, so stopping it disturbs nobody else.
"""

import os
import re
import secrets
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient

from taller_mlflow.local.servers import api_server, free_port
from taller_mlflow.monitoring.schema import prediction_log
from taller_mlflow.penguins import FEATURES
from taller_mlflow.training.data import load_csv_into
from taller_mlflow.training.trainer import train
from tests.support import ADELIE, GENTOO, wait_for
from tests.support.pgcluster import private_cluster
from tests.support.services import start_stack

ROOT = Path(__file__).resolve().parents[2]
INIT_SCRIPT = ROOT / "postgres-init" / "01-monitoring.sh"
PASSWORD = secrets.token_hex(16)
DROPPED = re.compile(r'^prediction_log_dropped_total\{reason="db_error"\} (\S+)$', re.M)


def run_init_script(cluster) -> str:
    """What the postgres image does on an empty volume; the URL the API gets."""
    env = {
        **os.environ,
        "PGHOST": "127.0.0.1",
        "PGPORT": str(cluster.port),
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "postgres",
        "MONITORING_DB_PASSWORD": PASSWORD,
    }
    subprocess.run(["bash", str(INIT_SCRIPT)], env=env, check=True, timeout=60)
    subprocess.run(["bash", str(INIT_SCRIPT)], env=env, check=True, timeout=60)  # idempotent
    return f"postgresql+psycopg2://monitoring:{PASSWORD}@127.0.0.1:{cluster.port}/monitoring"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("prediction-log")
    with private_cluster(keep_log_in=workdir) as cluster:
        log_url = run_init_script(cluster)
        stack = start_stack(workdir / "stack")
        data_url = f"sqlite:///{workdir / 'penguins.db'}"
        load_csv_into(data_url)
        trained = train(stack.settings(data_url, quick_grid=True, cv_folds=2), say=lambda _: None)
        # @production on it whatever a promotion gate decided: this test is about the log
        client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
        client.set_registered_model_alias("modelo_penguins", "production", trained.model_version)
        port = free_port()
        api = api_server(
            port,
            stack.tracking_uri,
            workdir / "api.log",
            extra_env={
                "PREDICTION_LOG_URL": log_url,
                "TALLER_PREDICTION_LOG_FLUSH_SECONDS": "0.2",
                "MODEL_REFRESH_SECONDS": "1",
            },
        ).start(timeout=120)
        engine = sa.create_engine(log_url, pool_pre_ping=True)
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        try:
            yield cluster, api, http, engine, trained
        finally:
            http.close()
            api.stop()
            engine.dispose()
            stack.close()


def rows_of(engine, request_id: str) -> list[dict]:
    query = sa.select(prediction_log).where(prediction_log.c.request_id == request_id)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(query.order_by(prediction_log.c.id)).mappings()]
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):  # no database or table yet
        return []


def v2_body(penguins):
    return {
        "inputs": [
            {
                "name": c,
                "shape": [len(penguins)],
                "datatype": "BYTES" if c in ("island", "sex") else "FP64",
                "data": [p[c] for p in penguins],
            }
            for c in FEATURES
        ]
    }


def split_body(penguins):
    return {
        "dataframe_split": {
            "columns": FEATURES,
            "data": [[p[c] for c in FEATURES] for p in penguins],
        }
    }


def labels(endpoint: str, answer) -> list[str]:
    if endpoint == "/predict":
        return [a["prediction"] for a in answer]
    if endpoint == "/invocations":
        return answer["predictions"]
    return next(o["data"] for o in answer["outputs"] if o["name"] == "label")


def test_every_protocol_lands_a_row_per_penguin(env):
    _, _, http, engine, trained = env
    version = trained.model_version
    v2_version = f"/v2/models/modelo_penguins/versions/{version}/infer"
    calls = {
        "/predict": ("/predict", [ADELIE, GENTOO], "production"),
        "/invocations": ("/invocations", split_body([ADELIE, GENTOO]), "production"),
        "/v2/models/{name}/infer": (
            "/v2/models/modelo_penguins/infer",
            v2_body([GENTOO]),
            "production",
        ),
        "/v2/models/{name}/versions/{version}/infer": (v2_version, v2_body([ADELIE]), None),
    }
    sent = {}
    for endpoint, (path, body, alias) in calls.items():
        response = http.post(path, json=body, headers={"X-Request-ID": f"it-{uuid.uuid4().hex}"})
        assert response.status_code == 200, response.text
        sent[endpoint] = (
            response.headers["x-request-id"],
            labels(endpoint, response.json()),
            alias,
        )
    for endpoint, (request_id, answered, alias) in sent.items():

        def landed(rid=request_id, n=len(answered)):  # noqa: B008 - bound per iteration
            found = rows_of(engine, rid)
            return len(found) == n and found

        rows = wait_for(landed, timeout=15, interval=0.2)
        assert rows, f"no {len(answered)} rows for {endpoint} ({request_id})"
        assert [row["prediction"] for row in rows] == answered
        for row in rows:
            assert row["endpoint"] == endpoint
            served = (row["model_name"], row["model_version"], row["model_alias"])
            assert served == ("modelo_penguins", version, alias)
            assert row["prediction"] in row["probabilities"]
            assert row["latency_ms"] > 0 and row["ts"].tzinfo is not None
    adelie, gentoo = rows_of(engine, sent["/invocations"][0])
    assert (adelie["island"], adelie["sex"], adelie["body_mass_g"]) == ("Torgersen", "MALE", 3750.0)
    assert (gentoo["island"], gentoo["sex"], gentoo["culmen_length_mm"]) == (
        "Biscoe",
        "FEMALE",
        50.0,
    )


def dropped(http) -> float:
    match = DROPPED.search(http.get("/metrics").text)
    return float(match[1]) if match else 0.0


def test_a_database_outage_costs_rows_not_predictions_and_writing_resumes(env):
    cluster, api, http, engine, _ = env
    pid = api.proc.pid
    before = dropped(http)
    cluster.pg_ctl("stop")
    try:
        codes = [http.post("/predict", json=ADELIE).status_code for _ in range(50)]
        assert codes == [200] * 50
        assert wait_for(lambda: dropped(http) > before, timeout=15, interval=0.2)
    finally:
        cluster.pg_ctl("start")

    def logged_again() -> bool:
        response = http.post("/predict", json=GENTOO)
        assert response.status_code == 200
        rid = response.headers["x-request-id"]
        return bool(wait_for(lambda: rows_of(engine, rid), timeout=2, interval=0.2))

    assert wait_for(logged_again, timeout=30, interval=0.5)
    assert api.proc.pid == pid and api.proc.poll() is None  # the same process, never restarted
