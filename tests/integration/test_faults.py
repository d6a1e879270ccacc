"""Bad input and faults, with real processes: a trained MLflow server (PostgreSQL + moto S3) and the
API on top of it, then the fuzzer, a restart of the MLflow server on the same stores and an S3
outage.

Covered elsewhere, not repeated here:
- PostgreSQL restarted in the middle of training: tests/integration/test_faults_postgresql.py;
- MLflow server stopped while the API serves: tests/integration/test_api.py
  (test_mlflow_outage_keeps_cached_predictions_and_turns_ready_false);
- MySQL unreachable, or an empty table, during training:
  tests/integration/test_training_failures.py;
- init.sql run twice still gives 344 rows: tests/integration/test_data_mysql.py;
- batch larger than the cap gives 413: tests/integration/test_api.py
  (test_oversized_batch_is_refused_with_413).
"""

import re
import signal
import time
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

from taller_mlflow.local.servers import api_server, free_port
from taller_mlflow.promotion.export import export_version
from taller_mlflow.training.trainer import train
from tests.support import ADELIE, wait_for
from tests.support.services import BUCKET, start_stack

FUZZ_CASES = 1000  # at least this many generated cases


def quiet(_):
    return None


@pytest.fixture(scope="module")
def env(tmp_path_factory, penguins_mysql_url):
    """One quick training (v1 @production), a second verified version with no alias, the API
    serving v1."""
    workdir = tmp_path_factory.mktemp("faults")
    stack = start_stack(workdir)
    result = train(stack.settings(penguins_mysql_url, quick_grid=True), say=quiet)
    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    source = client.get_model_version("modelo_penguins", result.model_version).source
    mlflow.set_tracking_uri(stack.tracking_uri)
    mlflow.set_registry_uri(stack.tracking_uri)
    spare = str(mlflow.register_model(source, "modelo_penguins").version)  # never loaded by the API
    # Verified as the gate would, so every version the fuzzer can name is servable: a 503 here
    # would be a server error, not the designed answer for an unverified version.
    export_version(client, stack.tracking_uri, "modelo_penguins", spare, say=quiet)
    port = free_port()
    api = api_server(
        port, stack.tracking_uri, workdir / "api.log", extra_env={"MODEL_REFRESH_SECONDS": "1"}
    ).start(timeout=120)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    assert wait_for(lambda: http.get("/ready").status_code == 200, 60), http.get("/ready").text
    yield stack, api, http, result, str(spare)
    http.close()
    api.stop()
    stack.close()


# --- bad input ------------------------------------------------------------------------------------


def test_fuzzing_1000_cases_gets_no_server_error_and_every_4xx_has_a_message(env, tmp_path):
    from tests.support.fuzz import fuzz

    _, api, http, _, _ = env
    # max_examples bounds hypothesis's examples per operation and phase, not the requests sent;
    # over the API's operations (its own and both protocols'), 300 gives well over 1000 cases.
    started = time.monotonic()
    report = fuzz(str(http.base_url).rstrip("/"), max_examples=300, report_dir=tmp_path)
    print(
        f"\nfuzzed {report.cases} cases in {time.monotonic() - started:.0f} s: "
        f"{dict(sorted(report.statuses.items()))}"
    )
    assert report.cases >= FUZZ_CASES, report.statuses
    assert report.server_errors == 0, (report.statuses, report.server_error_requests[:5])
    assert -1 not in report.statuses, "requests that got no response"
    assert report.four_xx_without_message == [], report.four_xx_without_message[:5]
    spec = http.get("/openapi.json").json()
    sent = {(m, "/" + p.split("/", 1)[-1]) for m, p in report.operations}
    for path, ops in spec["paths"].items():
        template = re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$")
        for method in ops:
            hit = any(m == method.upper() and template.match(p) for m, p in sent)
            assert hit, f"{method.upper()} {path} was never fuzzed"
    assert api.running


# --- nothing lost: the MLflow server restarted on the same stores --------------------------------


def test_start_mlflow_sh_restarts_on_the_same_stores_with_everything_there(env, tmp_path):
    stack, _, http, result, spare = env
    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    before_runs = {r.info.run_id for r in client.search_runs([result.experiment_id])}
    before_versions = {v.version for v in client.search_model_versions("name='modelo_penguins'")}
    log = stack.mlflow.log_path
    for _restart in range(2):  # stop and start twice: the second start finds a migrated schema too
        offset = log.stat().st_size
        stack.mlflow.stop()
        assert not stack.mlflow.running
        stack.mlflow.start(timeout=120)
        started = log.read_bytes()[offset:].decode(errors="replace")
        assert not re.search(r"(?i)traceback|migration.*(error|fail)|alembic.*error", started), (
            started[-3000:]
        )
        assert "mlflow: backend postgresql" in started  # start_mlflow.sh's own line: same backend

    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    assert {r.info.run_id for r in client.search_runs([result.experiment_id])} == before_runs
    assert {
        v.version for v in client.search_model_versions("name='modelo_penguins'")
    } == before_versions
    production = client.get_model_version_by_alias("modelo_penguins", "production")
    assert production.version == result.model_version
    assert "confusion_matrix.png" in [a.path for a in client.list_artifacts(result.run_id)]
    dst = client.download_artifacts(result.run_id, "confusion_matrix.png", str(tmp_path))
    assert Path(dst).stat().st_size > 0
    # artifacts still load through the restarted server's proxy, in a process with no S3 keys
    model = mlflow.sklearn.load_model("models:/modelo_penguins@production")
    assert list(model.classes_) == ["Adelie", "Chinstrap", "Gentoo"]
    # and the API, which never restarted, is ready again against the restarted server
    assert wait_for(lambda: http.get("/ready").status_code == 200, 30)


# --- S3 killed while the API serves a cached model -----------------------------------------------


def snapshot_bucket(stack) -> dict[str, bytes]:
    s3 = stack.s3_client()
    return {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in stack.bucket_keys()}


def restore_bucket(stack, objects: dict[str, bytes]) -> None:
    s3 = stack.s3_client()
    s3.create_bucket(Bucket=BUCKET)
    for key, body in objects.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def test_s3_killed_keeps_cached_predictions_turns_ready_false_and_recovers(env):
    stack, api, http, result, _ = env
    # A version registered now, so that no earlier test (the fuzzer reaches every model route)
    # can have loaded it: the API needs the artifact store to serve it.
    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    source = client.get_model_version("modelo_penguins", result.model_version).source
    mlflow.set_tracking_uri(stack.tracking_uri)
    mlflow.set_registry_uri(stack.tracking_uri)
    spare = str(mlflow.register_model(source, "modelo_penguins").version)
    ready = lambda: client.get_model_version("modelo_penguins", spare).status == "READY"  # noqa: E731
    assert wait_for(ready, 30)
    export_version(client, stack.tracking_uri, "modelo_penguins", spare, say=lambda _: None)
    checks = ("ready", "registry_reachable", "artifacts_reachable", "default_model_loaded")
    before = http.get("/ready").json()
    assert {k: before[k] for k in checks} == dict.fromkeys(checks, True)
    assert all(t["alive"] for t in before["threads"].values()), before["threads"]
    # moto keeps objects in memory only: keep a copy to put back, as a real S3 would still hold them
    objects = snapshot_bucket(stack)
    assert objects
    stack.s3.stop(sig=signal.SIGKILL)
    assert not stack.s3.running
    try:
        answers = [http.post("/predict", json=ADELIE) for _ in range(100)]
        assert [r.status_code for r in answers] == [200] * 100
        assert {r.json()["prediction"] for r in answers} == {"Adelie"}
        assert {r.json()["version"] for r in answers} == {result.model_version}
        batch = http.post("/predict", json=[ADELIE] * 50)
        assert batch.status_code == 200 and len(batch.json()) == 50

        ready = http.get("/ready")
        assert ready.status_code == 503
        assert {k: ready.json()[k] for k in checks} == {
            "ready": False,
            "registry_reachable": True,
            "artifacts_reachable": False,
            "default_model_loaded": True,
        }
        assert http.get("/health").status_code == 200
        # a version the API never loaded needs the artifacts: a clear 503, not a crash
        uncached = http.post("/predict", json={**ADELIE, "model": f"modelo_penguins/{spare}"})
        assert uncached.status_code == 503 and uncached.json()["detail"]
        assert http.get("/listar_modelos").status_code == 200  # the registry itself is fine
    finally:
        stack.s3.start()  # same port: the MLflow server's MLFLOW_S3_ENDPOINT_URL is unchanged
        restore_bucket(stack, objects)
    assert wait_for(lambda: http.get("/ready").status_code == 200, 30), http.get("/ready").text
    recovered = http.post("/predict", json={**ADELIE, "model": f"modelo_penguins/{spare}"})
    assert recovered.status_code == 200 and recovered.json()["version"] == spare
    assert api.running  # no restart of the API
