"""Boot the whole Docker Compose stack and check it end to end (marker `docker`).

    scripts/stack_test.sh          (make stack-test; builds the stand-in images where needed)
    pytest tests/stack -v

On spare host ports (13306, 15432, 19000, 19001, 15000, 18989, 18888, 19090, else the first free
set of 2xxxx..5xxxx; STACK_TEST_PORT_PREFIX=2 gives 23306, ...), under a project, network and container names of its own and with an env file
of its own (random passwords), it:
  1. runs `docker compose up -d --build --wait` for docker-compose.yaml;
  2. checks every service is healthy, the bucket exists and MySQL holds the 344 penguins;
  3. runs JupyterLab/mlflow_pipeline.ipynb inside the jupyter container with papermill, and
     checks that its grid search ran its fits on both Dask workers (docker-compose-dask.yaml);
  4. from the host, calls GET /listar_modelos and POST /predict for real penguins;
  4b. asks Prometheus for `up{job="api"} == 1` and a non-zero prediction counter, and MLflow for
     the monitor service's drift check run on those predictions;
  5. checks the registered model's artifacts are in the bucket (boto3 on the published port);
  6. runs `docker compose down` (keeping volumes) and `up` again, and checks that runs, model,
     alias, artifacts and rows survived, and that the API still predicts;
  7. runs `docker compose down -v` whatever happened.
Between them, the attacks of issue 19 on the running stack (marker `security`): MLflow refuses
writes without a user (401) and the trainer's and the reader's moves of @production (403);
JupyterLab refuses requests without its token, and inside it there is no .env and no other
service's secret; MLflow holds MinIO keys that are not MinIO's root.

MLflow runs with basic auth, as the stack always does: the test signs in as the reader for what it
reads, and `make notebook` trains as the trainer and registers and promotes as the promoter.

Images: MYSQL_IMAGE, POSTGRES_IMAGE, MINIO_IMAGE and PYTHON_IMAGE from the environment, else (as
root, where the official images cannot be pulled) the stand-ins that STANDIN_BUILD builds
(default ../shared/standin-images/build beside the repository; USE_STANDIN_IMAGES=0 disables).
No Docker engine or no Compose v2 → the test fails, naming what to install.
"""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from taller_mlflow.local.servers import ROOT
from tests.support import wait_for

COMPOSE_FILES = sorted(ROOT.glob("docker-compose*.yaml"))
IMAGE_VARS = ["PYTHON_IMAGE", "MYSQL_IMAGE", "POSTGRES_IMAGE", "MINIO_IMAGE", "PROMETHEUS_IMAGE"]
NOTEBOOK = "JupyterLab/mlflow_pipeline.ipynb"
MODEL_NAME = "modelo_penguins"
EXPERIMENT = "mlflow_penguins_vf"
ALIAS = "production"
BUCKET = "mlflows3"
PENGUIN_ROWS = 344
ROLES = ["trainer", "promoter", "reader", "monitor"]
DASK_SERVICES = ["dask-scheduler", "dask-worker-1", "dask-worker-2"]
PENGUINS = [
    (
        {
            "island": "Biscoe",
            "culmen_length_mm": 50.0,
            "culmen_depth_mm": 15.0,
            "flipper_length_mm": 220,
            "body_mass_g": 5500,
            "sex": "MALE",
        },
        "Gentoo",
    ),
    (
        {
            "island": "Torgersen",
            "culmen_length_mm": 39.1,
            "culmen_depth_mm": 18.7,
            "flipper_length_mm": 181,
            "body_mass_g": 3750,
            "sex": "MALE",
        },
        "Adelie",
    ),
    (
        {
            "island": "Dream",
            "culmen_length_mm": 49.5,
            "culmen_depth_mm": 19.0,
            "flipper_length_mm": 200,
            "body_mass_g": 3800,
            "sex": "MALE",
        },
        "Chinstrap",
    ),
]

pytestmark = pytest.mark.timeout(3600)


# --- engine, images -----------------------------------------------------------------------------


def _run(cmd, timeout=120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def _engine_problem() -> str | None:
    if not shutil.which("docker"):
        return "no docker CLI on PATH: install docker.io (or Docker Engine)"
    info = _run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=30)
    if info.returncode != 0:
        return f"no Docker engine reachable (start dockerd): {info.stderr.strip()[:300]}"
    if _run(["docker", "compose", "version"], timeout=30).returncode != 0:
        return "no `docker compose` (Compose v2): install docker-compose-plugin"
    return None


def _standin_images() -> dict[str, str]:
    """Build the stand-in images (and install/start the engine) when the official ones are not set."""
    chosen = {k: os.environ[k] for k in IMAGE_VARS if os.environ.get(k)}
    if len(chosen) == len(IMAGE_VARS) or os.environ.get("USE_STANDIN_IMAGES", "1") == "0":
        return chosen
    build = Path(os.environ.get("STANDIN_BUILD", ROOT.parent / "shared/standin-images/build"))
    if not build.exists() or os.geteuid() != 0:
        return chosen
    out = _run([str(build)], timeout=1800)
    if out.returncode != 0:
        pytest.fail(f"{build} failed:\n{out.stderr[-3000:]}")
    exported = dict(re.findall(r"^export (\w+)=(\S+)$", out.stdout, re.M))
    return {**{k: v for k, v in exported.items() if k in IMAGE_VARS}, **chosen}


def _require_engine() -> dict[str, str]:
    images = _standin_images()
    problem = _engine_problem()
    if problem:
        pytest.fail(f"the Docker stack test cannot run: {problem}")
    return images


# --- the stack ----------------------------------------------------------------------------------


def _compose_vars() -> set[str]:
    names = set()
    for path in COMPOSE_FILES:
        names |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", path.read_text()))
    return names


@dataclass
class Stack:
    project: str
    env_file: Path
    settings: dict[str, str]
    env: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    def compose(self, *args, timeout=600, check=True) -> subprocess.CompletedProcess:
        cmd = ["docker", "compose", "-p", self.project, "--env-file", str(self.env_file)]
        cmd += ["-f", str(ROOT / "docker-compose.yaml"), *args]
        out = _run(cmd, timeout=timeout, cwd=ROOT, env=self.env)
        if check and out.returncode != 0:
            pytest.fail(f"{' '.join(cmd[6:])} failed ({out.returncode}):\n{out.stderr[-4000:]}")
        return out

    def timed(self, label, fn, *args, **kw):
        start = time.monotonic()
        try:
            return fn(*args, **kw)
        finally:
            self.timings[label] = time.monotonic() - start

    def port(self, var: str) -> int:
        return int(self.settings[var])

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port('API_HOST_PORT')}"

    @property
    def mlflow(self) -> str:
        return f"http://127.0.0.1:{self.port('MLFLOW_HOST_PORT')}"

    @property
    def prometheus(self) -> str:
        return f"http://127.0.0.1:{self.port('PROMETHEUS_HOST_PORT')}"

    def user(self, role: str) -> tuple[str, str]:
        """(username, password) of an MLflow user of the stack: admin, trainer, reader, ..."""
        if role == "admin":
            return "admin", self.settings["MLFLOW_AUTH_ADMIN_PASSWORD"]
        return self.settings[f"MLFLOW_{role.upper()}_USERNAME"], self.settings[
            f"MLFLOW_{role.upper()}_PASSWORD"
        ]

    def s3(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.port('MINIO_HOST_PORT')}",
            aws_access_key_id=self.settings["MINIO_ROOT_USER"],
            aws_secret_access_key=self.settings["MINIO_ROOT_PASSWORD"],
            region_name="us-east-1",
        )

    def up(self, *extra):
        self.compose("up", "-d", "--wait", "--wait-timeout", "600", *extra, timeout=2400)


PORT_SUFFIXES = ["3306", "5432", "9000", "9001", "5000", "8989", "8888", "9090", "8787"]


def _port_prefix() -> str:
    """STACK_TEST_PORT_PREFIX, else the first of 1..5 whose eight ports are all free: a stack
    left running on this machine (a killed run, a user's own) must not fail this one."""
    if os.environ.get("STACK_TEST_PORT_PREFIX"):
        return os.environ["STACK_TEST_PORT_PREFIX"]
    for prefix in "12345":
        if all(_port_free(int(prefix + suffix)) for suffix in PORT_SUFFIXES):
            return prefix
    pytest.fail("no free port set among 1xxxx..5xxxx: set STACK_TEST_PORT_PREFIX")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _settings(project: str, images: dict[str, str]) -> dict[str, str]:
    prefix = _port_prefix()
    settings = {var: "" for var in _compose_vars()}  # empty → the compose default
    settings.update(images)
    settings.update(
        {
            "MYSQL_ROOT_PASSWORD": secrets.token_hex(8),
            "MYSQL_DATABASE": "mydatabase",
            "MYSQL_USER": "taller",
            "MYSQL_PASSWORD": secrets.token_hex(8),
            "POSTGRES_USER": "mlflow",
            "POSTGRES_PASSWORD": secrets.token_hex(8),
            "POSTGRES_DB": "mlflow",
            "MONITORING_DB_USER": "monitoring",
            "MONITORING_DB_PASSWORD": secrets.token_hex(8),
            "MINIO_ROOT_USER": "admin",
            "MINIO_ROOT_PASSWORD": secrets.token_hex(8),
            "MINIO_BUCKET": BUCKET,
            "MLFLOW_S3_ACCESS_KEY": "mlflow-artifacts",
            "MLFLOW_S3_SECRET_KEY": secrets.token_hex(16),
            "MLFLOW_AUTH_ADMIN_PASSWORD": secrets.token_hex(12),
            **{f"MLFLOW_{role.upper()}_USERNAME": role for role in ROLES},
            **{f"MLFLOW_{role.upper()}_PASSWORD": secrets.token_hex(12) for role in ROLES},
            "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
            # mlflow-init registers the API's webhook, which the API then verifies
            "TALLER_WEBHOOK_SECRET": secrets.token_hex(16),
            "JUPYTER_TOKEN": secrets.token_hex(8),
            "MODEL_REFRESH_SECONDS": "3",
            "NETWORK_NAME": f"{project}_net",
            "MYSQL_HOST_PORT": f"{prefix}3306",
            "POSTGRES_HOST_PORT": f"{prefix}5432",
            "MINIO_HOST_PORT": f"{prefix}9000",
            "MINIO_CONSOLE_HOST_PORT": f"{prefix}9001",
            "MLFLOW_HOST_PORT": f"{prefix}5000",
            "API_HOST_PORT": f"{prefix}8989",
            "JUPYTER_HOST_PORT": f"{prefix}8888",
            "PROMETHEUS_HOST_PORT": f"{prefix}9090",
            "DASK_DASHBOARD_HOST_PORT": f"{prefix}8787",
            # The drift job checks every 5 s, as soon as a version has 3 logged predictions.
            "TALLER_MONITOR_INTERVAL_SECONDS": "5",
            "TALLER_MONITOR_MIN_ROWS": "3",
        }
    )
    for svc in ["MYSQL", "POSTGRES", "MINIO", "MLFLOW", "API", "JUPYTER", "MONITOR", "PROMETHEUS"]:
        settings[f"{svc}_CONTAINER_NAME"] = f"{project}_{svc.lower()}"
    for svc in DASK_SERVICES:
        settings[f"{svc.upper().replace('-', '_')}_CONTAINER_NAME"] = f"{project}_{svc}"
    return settings


@pytest.fixture(scope="module")
def compose_stack(request, tmp_path_factory):
    images = _require_engine()
    project = f"tmlf{os.getpid()}{secrets.token_hex(2)}"
    settings = _settings(project, images)
    env_file = tmp_path_factory.mktemp("stack") / "stack.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(settings.items())))
    drop = _compose_vars() | {"COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    stack = Stack(project, env_file, settings, env)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    failed_before = request.session.testsfailed
    started = time.monotonic()
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def report(text: str) -> None:  # straight to the terminal, even when the test passed
        if reporter and capture:
            with capture.global_and_fixture_disabled():
                reporter.write_line(text)

    try:
        stack.timed("up --build (first boot)", stack.up, "--build")
        yield stack
    finally:
        if request.session.testsfailed > failed_before or not stack.timings.get("done"):
            ps = stack.compose("ps", "-a", check=False)
            logs = stack.compose("logs", "--no-color", "--tail", "60", check=False, timeout=120)
            report(f"\n--- docker compose ps -a\n{ps.stdout}")
            report(f"--- docker compose logs (tail)\n{logs.stdout[-20000:]}")
        stack.timings.pop("done", None)
        stack.timed("down -v", stack.compose, "down", "-v", "--remove-orphans", check=False)
        total = time.monotonic() - started
        lines = [f"\nstack test {project}: wall time {total:.0f} s"]
        lines += [f"  {label:<34} {seconds:7.1f} s" for label, seconds in stack.timings.items()]
        report("\n".join(lines))


# --- helpers ------------------------------------------------------------------------------------


def _services(stack: Stack) -> dict[str, dict]:
    out = stack.compose("ps", "-a", "--format", "json")
    text = out.stdout.strip()
    rows = json.loads(text) if text.startswith("[") else [json.loads(x) for x in text.splitlines()]
    return {row["Service"]: row for row in rows}


def _rows(stack: Stack) -> int:
    import pymysql

    conn = pymysql.connect(
        host="127.0.0.1",
        port=stack.port("MYSQL_HOST_PORT"),
        user=stack.settings["MYSQL_USER"],
        password=stack.settings["MYSQL_PASSWORD"],
        database="mydatabase",
    )
    with conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM penguins")
        return cur.fetchone()[0]


def _mlflow_get(stack: Stack, path: str, **params) -> dict:
    resp = requests.get(
        f"{stack.mlflow}/api/2.0/mlflow/{path}",
        params=params,
        auth=stack.user("reader"),
        timeout=30,
    )
    resp.raise_for_status()
    return resp.json()


def _runs(stack: Stack) -> dict[str, str]:
    exp = _mlflow_get(stack, "experiments/get-by-name", experiment_name=EXPERIMENT)
    resp = requests.post(
        f"{stack.mlflow}/api/2.0/mlflow/runs/search",
        json={"experiment_ids": [exp["experiment"]["experiment_id"]], "max_results": 1000},
        auth=stack.user("reader"),
        timeout=30,
    )
    resp.raise_for_status()
    return {r["info"]["run_id"]: r["info"]["status"] for r in resp.json().get("runs", [])}


def _production(stack: Stack) -> dict:
    return _mlflow_get(stack, "registered-models/alias", name=MODEL_NAME, alias=ALIAS)[
        "model_version"
    ]


def _objects(stack: Stack) -> dict[str, str]:
    s3 = stack.s3()
    found, token = {}, None
    while True:
        kw = {"Bucket": BUCKET, **({"ContinuationToken": token} if token else {})}
        page = s3.list_objects_v2(**kw)
        found.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])})
        if not page.get("IsTruncated"):
            return found
        token = page["NextContinuationToken"]


def _model_keys(stack: Stack, version: dict) -> list[str]:
    """The bucket keys of the model version's artifacts (MLflow 3 logged model or run folder)."""
    source = version["source"]
    marker = source.split("models:/", 1)[1].split("/")[0] if source.startswith("models:/") else ""
    marker = marker or version["run_id"]
    return sorted(k for k in _objects(stack) if f"/{marker}/" in f"/{k}")


def _ready_answer(stack: Stack) -> str:
    try:
        return requests.get(f"{stack.api}/ready", timeout=10).text
    except requests.RequestException as exc:
        return str(exc)


def _api_ready(stack: Stack) -> bool:
    try:
        return requests.get(f"{stack.api}/ready", timeout=10).status_code == 200
    except requests.RequestException:
        return False


def _wait_api_ready(stack: Stack, timeout: float = 180) -> None:
    if not wait_for(lambda: _api_ready(stack), timeout, interval=2):
        pytest.fail(f"API not ready after {timeout:.0f} s: {_ready_answer(stack)}")


def _predict_all(stack: Stack) -> None:
    for penguin, species in PENGUINS:
        resp = requests.post(f"{stack.api}/predict", json=penguin, timeout=30)
        assert resp.status_code == 200, resp.text
        assert resp.json()["prediction"] == species, (penguin, resp.text)


# --- the checks, in order -----------------------------------------------------------------------


def test_every_service_healthy_and_data_seeded(compose_stack):
    services = _services(compose_stack)
    for svc in ["mysql", "postgres", "minio", "mlflow", "api", "jupyter", "monitor", "prometheus"]:
        assert services[svc]["State"] == "running", services[svc]
    for svc in ["mysql", "postgres", "minio", "mlflow", "api", "monitor", "prometheus"]:
        assert services[svc]["Health"] == "healthy", services[svc]
    for svc in DASK_SERVICES:
        assert services[svc]["Health"] == "healthy", services[svc]
    for one_off in ["minio-init", "minio-user", "mlflow-init"]:
        assert services[one_off]["State"] == "exited", services[one_off]
        assert services[one_off]["ExitCode"] == 0, services[one_off]
    assert services["mysql"]["Name"] == compose_stack.settings["MYSQL_CONTAINER_NAME"]
    assert _rows(compose_stack) == PENGUIN_ROWS
    compose_stack.s3().head_bucket(Bucket=BUCKET)
    assert requests.get(f"{compose_stack.api}/health", timeout=10).status_code == 200


def test_notebook_trains_and_registers_inside_jupyter(compose_stack, tmp_path):
    """`make notebook` (docker.mk): papermill inside the jupyter container, output copied out."""
    stack = compose_stack
    assert (ROOT / NOTEBOOK).exists(), f"{NOTEBOOK} is missing"
    output = tmp_path / "output.ipynb"
    if not shutil.which("make"):
        pytest.fail("no make on PATH: the stack test runs `make -f docker.mk notebook`")
    compose = f"docker compose -p {stack.project} --env-file {stack.env_file}"
    cmd = ["make", "--no-print-directory", "-f", "docker.mk", "notebook", f"COMPOSE={compose}"]
    cmd += ["NOTEBOOK_ARGS=-p quick True", f"NOTEBOOK_OUT={output}"]
    out = stack.timed(
        "notebook (make notebook, papermill)",
        _run, cmd, timeout=1800, cwd=ROOT, env=stack.env,
    )  # fmt: skip
    assert out.returncode == 0, f"make notebook failed:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    assert output.stat().st_size > 0
    # the notebook ran as the trainer, who may not register: the promoter did, then the gate
    assert "trained and logged; this user may not register it" in output.read_text()
    assert re.search(r"registered modelo_penguins version \d+ from run", out.stdout), out.stdout
    runs = _runs(compose_stack)
    assert runs and "FINISHED" in runs.values(), runs
    version = _production(compose_stack)
    assert version["status"] == "READY" and version["run_id"] in runs


# Tasks each worker has run since it started (the workers only ever run the stack's own work).
WORKER_TASKS = """
import json
from distributed import Client
with Client("tcp://127.0.0.1:8786", timeout=20) as client:
    print(json.dumps(client.run(lambda dask_worker: dask_worker.state.executed_count)))
"""


def test_the_notebooks_fits_ran_on_both_dask_workers(compose_stack):
    """After test_notebook_trains_and_registers_inside_jupyter: the jupyter service has
    TALLER_DASK_SCHEDULER (docker-compose.depends.yaml), so the notebook's grid search ran its
    fits on the two workers of docker-compose-dask.yaml, not in the jupyter container."""
    env = compose_stack.compose("exec", "-T", "jupyter", "printenv", "TALLER_DASK_SCHEDULER")
    assert env.stdout.strip() == "tcp://dask-scheduler:8786"
    out = compose_stack.compose("exec", "-T", "dask-scheduler", "python", "-c", WORKER_TASKS)
    executed = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(executed) == 2, executed
    assert all(count > 0 for count in executed.values()), executed
    dashboard = f"http://127.0.0.1:{compose_stack.port('DASK_DASHBOARD_HOST_PORT')}/status"
    assert requests.get(dashboard, timeout=10).status_code == 200


def test_api_lists_models_and_predicts_species(compose_stack):
    compose_stack.timed("API ready after training", _wait_api_ready, compose_stack)
    resp = requests.get(f"{compose_stack.api}/listar_modelos", timeout=30)
    assert resp.status_code == 200, resp.text
    assert MODEL_NAME in resp.text
    _predict_all(compose_stack)


def _prometheus(stack: Stack, query: str) -> list:
    try:
        resp = requests.get(f"{stack.prometheus}/api/v1/query", params={"query": query}, timeout=10)
        return resp.json()["data"]["result"] if resp.ok else []
    except requests.RequestException:
        return []


def _monitor_runs(stack: Stack) -> list[dict]:
    """The drift job's check runs in MLflow (experiment monitoring_<model>)."""
    try:
        exp = _mlflow_get(
            stack, "experiments/get-by-name", experiment_name=f"monitoring_{MODEL_NAME}"
        )
    except requests.HTTPError:  # not created yet: no check has run
        return []
    resp = requests.post(
        f"{stack.mlflow}/api/2.0/mlflow/runs/search",
        json={"experiment_ids": [exp["experiment"]["experiment_id"]], "max_results": 100},
        auth=stack.user("reader"),
        timeout=30,
    )
    resp.raise_for_status()
    return resp.json().get("runs", [])


def _checked(stack: Stack) -> tuple[dict, dict] | None:
    """A finished check run and the tags of the version it checked, once the job has written
    its result back (the version's tags come after the run is finished)."""
    for run in _monitor_runs(stack):
        if run["info"]["status"] != "FINISHED":
            continue
        run_tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
        version = _mlflow_get(
            stack, "model-versions/get", name=MODEL_NAME, version=run_tags["model_version"]
        )["model_version"]
        tags = {t["key"]: t["value"] for t in version.get("tags", [])}
        if "drift.run_id" in tags:  # the last of the three tags the job sets
            return run, tags
    return None


def test_prometheus_scrapes_the_api_and_the_drift_job_writes_its_checks(compose_stack):
    """The predictions above are logged by the API; the monitor service (every 5 s here, from 3
    rows) checks them against the version's training reference and writes a run to MLflow; and
    Prometheus (on loopback) scrapes the API, MLflow and the drift job."""
    stack = compose_stack
    api_up = stack.timed(
        "Prometheus: api target up",
        wait_for, lambda: _prometheus(stack, 'up{job="api"} == 1'), 120, interval=2,
    )  # fmt: skip
    assert api_up, _prometheus(stack, "up")
    predicted = wait_for(lambda: _prometheus(stack, "sum(api_predictions_total) > 0"), 60, 2)
    assert predicted, _prometheus(stack, "api_predictions_total")
    checked = stack.timed(
        "drift job: first check written back", wait_for, lambda: _checked(stack), 180, interval=3
    )
    assert checked, "no check run tagged its version (docker compose logs monitor)"
    run, tags = checked
    metrics = {m["key"] for m in run["data"].get("metrics", [])}
    assert {"drift_status", "psi_body_mass_g", "p_value_island"} <= metrics, metrics
    assert tags.get("drift.status") in {"ok", "warn", "drift"}, tags
    for job in ("monitor", "mlflow"):
        up = wait_for(lambda job=job: _prometheus(stack, f'up{{job="{job}"}} == 1'), 60, 2)
        assert up, (job, _prometheus(stack, "up"))
    assert _prometheus(stack, "sum(mlflow_http_request_total) > 0"), "MLflow counted no request"
    assert wait_for(lambda: _prometheus(stack, "model_drift_status"), 60, interval=2)


def test_model_artifacts_are_in_the_bucket(compose_stack):
    keys = _model_keys(compose_stack, _production(compose_stack))
    names = {k.rsplit("/", 1)[-1] for k in keys}
    assert "MLmodel" in names, keys
    assert len(names - {"MLmodel"}) >= 1, keys


def test_runs_model_artifacts_and_rows_survive_down_and_up(compose_stack):
    stack = compose_stack
    before = (_runs(stack), _production(stack)["version"], _objects(stack), _rows(stack))
    stack.timed("down (volumes kept)", stack.compose, "down", timeout=300)
    volumes = _run(
        [
            "docker",
            "volume",
            "ls",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={stack.project}",
        ]
    ).stdout.split()
    assert len(volumes) >= 3, volumes
    stack.timed("up again (no build)", stack.up)
    after = (_runs(stack), _production(stack)["version"], _objects(stack), _rows(stack))
    assert after[0] == before[0], "runs changed"
    assert after[1] == before[1], "model version changed"
    # Every object is still there, unchanged; the monitor service may have added its reports.
    assert before[2].items() <= after[2].items(), "bucket objects lost or changed"
    added = set(after[2]) - set(before[2])
    assert all(k.rsplit("/", 1)[-1].startswith("drift_report.") for k in added), added
    assert after[3] == before[3] == PENGUIN_ROWS
    assert _model_keys(stack, _production(stack))
    stack.timed("API ready after restart", _wait_api_ready, stack)
    _predict_all(stack)
    stack.timings["done"] = 1


# --- issue 19: the attacks, on the running stack ----------------------------------------------------


def _mlflow_call(stack: Stack, method: str, path: str, auth=None, **kw) -> requests.Response:
    return requests.request(method, f"{stack.mlflow}{path}", auth=auth, timeout=30, **kw)


@pytest.mark.security
def test_mlflow_refuses_writes_without_a_user_and_production_moves_but_the_promoters(
    compose_stack,
):
    stack = compose_stack
    version = _production(stack)
    run_id, name = version["run_id"], MODEL_NAME
    experiment = _mlflow_get(stack, "runs/get", run_id=run_id)["run"]["info"]["experiment_id"]
    artifact = f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run_id}/artifacts/evil.txt"
    alias = {"name": name, "alias": ALIAS, "version": version["version"]}
    writes = [
        ("POST", "/api/2.0/mlflow/registered-models/create", {"json": {"name": "evil"}}),
        ("POST", "/api/2.0/mlflow/model-versions/create",
         {"json": {"name": name, "source": version["source"], "run_id": run_id}}),
        ("POST", "/api/2.0/mlflow/registered-models/alias", {"json": alias}),
        ("POST", "/api/2.0/mlflow/runs/delete", {"json": {"run_id": run_id}}),
        ("PUT", artifact, {"data": b"written by nobody"}),
    ]  # fmt: skip
    for method, path, body in writes:
        answer = _mlflow_call(stack, method, path, **body)
        assert answer.status_code == 401, (path, answer.status_code, answer.text[:200])
    for role in ["trainer", "reader", "monitor"]:
        path = "/api/2.0/mlflow/registered-models/alias"
        answer = _mlflow_call(stack, "POST", path, stack.user(role), json=alias)
        assert answer.status_code == 403, (role, answer.status_code, answer.text[:200])
    assert _production(stack)["version"] == version["version"]
    assert "evil.txt" not in json.dumps(_objects(stack))


def _jupyter_sh(stack: Stack, command: str) -> subprocess.CompletedProcess:
    return stack.compose("exec", "-T", "jupyter", "sh", "-c", command, check=False, timeout=120)


@pytest.mark.security
def test_jupyter_wants_its_token_and_holds_no_other_secret(compose_stack):
    stack = compose_stack
    base = f"http://127.0.0.1:{stack.port('JUPYTER_HOST_PORT')}"
    assert requests.get(f"{base}/api/contents", timeout=30).status_code == 403
    token = {"Authorization": f"token {stack.settings['JUPYTER_TOKEN']}"}
    assert requests.get(f"{base}/api/contents", headers=token, timeout=30).status_code == 200
    listed = _jupyter_sh(stack, "ls -A /home/jovyan/work")
    assert listed.stdout.split() == ["JupyterLab", "taller_mlflow"], listed.stdout
    for probe in ["test -e /home/jovyan/work/.env", "touch /home/jovyan/work/taller_mlflow/x"]:
        assert _jupyter_sh(stack, probe).returncode != 0, probe
    # what the container holds: its own environment and every file it can read
    seen = _jupyter_sh(stack, "env; cat /proc/1/environ | tr '\\0' '\\n'").stdout
    assert stack.settings["MLFLOW_TRAINER_PASSWORD"] in seen  # its own user: the trainer
    others = ["MINIO_ROOT_PASSWORD", "MLFLOW_S3_SECRET_KEY", "MLFLOW_AUTH_ADMIN_PASSWORD",
              "MLFLOW_PROMOTER_PASSWORD", "MLFLOW_READER_PASSWORD", "MLFLOW_MONITOR_PASSWORD",
              "POSTGRES_PASSWORD", "MONITORING_DB_PASSWORD", "MYSQL_ROOT_PASSWORD",
              "TALLER_WEBHOOK_SECRET"]  # fmt: skip
    for name in others:
        found = _jupyter_sh(
            stack, f"grep -rIqs -F -e '{stack.settings[name]}' /home /tmp /etc /opt"
        )
        assert stack.settings[name] not in seen and found.returncode != 0, name


@pytest.mark.security
def test_mlflow_reaches_minio_as_its_bucket_user_not_as_root(compose_stack):
    """What the stand-in MinIO can check: MLflow holds the bucket user's keys, not the root's, and
    its artifacts work with them. What it cannot: that MinIO enforces the user's policy (the
    stand-in accepts any key and has no admin API; on it minio-user says so and creates nothing)."""
    stack = compose_stack
    env = stack.compose("exec", "-T", "mlflow", "env", timeout=60).stdout
    assert f"AWS_ACCESS_KEY_ID={stack.settings['MLFLOW_S3_ACCESS_KEY']}" in env
    assert stack.settings["MINIO_ROOT_PASSWORD"] not in env
    assert f"AWS_ACCESS_KEY_ID={stack.settings['MINIO_ROOT_USER']}\n" not in env
    said = stack.compose("logs", "--no-color", "minio-user", timeout=60).stdout
    assert "minio-user:" in said
    assert stack.settings["MLFLOW_S3_SECRET_KEY"] not in said
    assert _model_keys(stack, _production(stack))  # MLflow wrote the model with those keys


# --- issue 21: make backup, make down -v, make up, make restore -----------------------------------


def _make(stack: Stack, target: str, *args: str, timeout: float = 900):
    compose = f"docker compose -p {stack.project} --env-file {stack.env_file}"
    cmd = ["make", "--no-print-directory", "-f", "docker.mk", target, f"COMPOSE={compose}"]
    cmd += [f"BACKUP_ENV={stack.env_file}", *args]
    out = stack.timed(f"make {target}", _run, cmd, timeout=timeout, cwd=ROOT, env=stack.env)
    assert out.returncode == 0, f"make {target} failed:\n{out.stdout[-3000:]}\n{out.stderr[-4000:]}"
    return out


def _fifty_penguins(stack: Stack) -> list[dict]:
    import pymysql

    features = ["island", "culmen_length_mm", "culmen_depth_mm", "flipper_length_mm",
                "body_mass_g", "sex"]  # fmt: skip
    conn = pymysql.connect(
        host="127.0.0.1",
        port=stack.port("MYSQL_HOST_PORT"),
        user=stack.settings["MYSQL_USER"],
        password=stack.settings["MYSQL_PASSWORD"],
        database="mydatabase",
    )
    with conn, conn.cursor() as cur:
        cur.execute(
            f"SELECT {', '.join(features)} FROM penguins WHERE sex IN ('MALE', 'FEMALE') AND "
            + " AND ".join(f"{f} IS NOT NULL" for f in features)
            + " ORDER BY id LIMIT 50"
        )
        rows = cur.fetchall()
    # DECIMAL columns come back as Decimal, which JSON does not take
    return [
        {f: v if isinstance(v, str | int) else float(v) for f, v in zip(features, row, strict=True)}
        for row in rows
    ]


def _log_count(stack: Stack) -> int:
    import psycopg2

    conn = psycopg2.connect(
        host="127.0.0.1",
        port=stack.port("POSTGRES_HOST_PORT"),
        user=stack.settings["MONITORING_DB_USER"],
        password=stack.settings["MONITORING_DB_PASSWORD"],
        dbname="monitoring",
    )
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM prediction_log")
        count = cur.fetchone()[0]
    conn.close()
    return count


def _settled_log_count(stack: Stack, at_least: int) -> int:
    """The log's row count once the API's writer has flushed: at least `at_least`, and steady."""
    seen = []

    def steady() -> bool:
        seen.append(_log_count(stack))
        return seen[-1] >= at_least and seen[-2:] == [seen[-1]] * 2

    assert wait_for(steady, 120, interval=3), f"the log never settled at {at_least}+: {seen}"
    return seen[-1]


def _versions(stack: Stack) -> dict[str, tuple]:
    found = _mlflow_get(stack, "model-versions/search", filter=f"name='{MODEL_NAME}'")
    return {
        v["version"]: (
            v["run_id"], v["source"], v["status"], sorted(v.get("aliases", [])),
            sorted((t["key"], t["value"]) for t in v.get("tags", [])),
        )
        for v in found.get("model_versions", [])
    }  # fmt: skip


def _version_sums(stack: Stack) -> dict[str, str]:
    """sha256 of every object of every version: its model, and its run's (the serving artifact)."""
    import hashlib

    s3, keys = stack.s3(), set()
    found = _mlflow_get(stack, "model-versions/search", filter=f"name='{MODEL_NAME}'")
    for version in found.get("model_versions", []):
        keys |= set(_model_keys(stack, version))
        keys |= {k for k in _objects(stack) if f"/{version['run_id']}/" in f"/{k}"}
    return {
        key: hashlib.sha256(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()).hexdigest()
        for key in sorted(keys)
    }


def _answers(stack: Stack, penguins: list[dict]) -> list[dict]:
    resp = requests.post(f"{stack.api}/predict", json=penguins, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_backup_then_down_v_up_and_restore_bring_everything_back(compose_stack, tmp_path):
    """Issue 21's round trip: predictions logged, `make backup`, `make down -v` (every volume
    gone), `make up`, `make restore`; then the same runs, versions, aliases and tags, the same
    artifact checksums, the same answers on 50 penguins, the same number of logged rows."""
    stack = compose_stack
    penguins = _fifty_penguins(stack)
    assert len(penguins) == 50
    _wait_api_ready(stack)
    answers = [_answers(stack, penguins) for _ in range(10)][-1]  # 500 predictions, logged
    # The drift job writes runs, reports and version tags on its own: stopped, so the state
    # compared holds still (make restore restarts only the writers it found running).
    stack.compose("stop", "monitor", timeout=120)
    rows = _settled_log_count(stack, 500)
    before = (_runs(stack), _versions(stack), _production(stack)["version"], _version_sums(stack))
    assert before[3], "no artifact found for the versions"

    archive = tmp_path / "stack-backup.tar.gz"
    _make(stack, "backup", f"FILE={archive}")
    assert archive.stat().st_size > 0
    stack.timed("down -v (every volume gone)", stack.compose, "down", "-v", timeout=300)
    volumes = _run(["docker", "volume", "ls", "-q", "--filter",
                    f"label=com.docker.compose.project={stack.project}"]).stdout.split()  # fmt: skip
    assert volumes == [], volumes
    stack.timed("up after down -v", stack.up)
    stack.compose("stop", "monitor", timeout=120)
    out = _make(stack, "restore", f"FILE={archive}")
    assert "counts match the manifest" in out.stdout, out.stdout
    assert _log_count(stack) == rows  # before anything predicts on the restored stack

    assert _runs(stack) == before[0], "runs differ"
    assert _versions(stack) == before[1], "versions, aliases or tags differ"
    assert _production(stack)["version"] == before[2]
    assert _version_sums(stack) == before[3], "artifact checksums differ"
    stack.timed("API ready after restore", _wait_api_ready, stack)
    assert wait_for(lambda: _answers(stack, penguins) == answers, 120, interval=3), "answers differ"
    refused = _run(
        ["make", "--no-print-directory", "-f", "docker.mk", "restore", f"FILE={archive}",
         f"COMPOSE=docker compose -p {stack.project} --env-file {stack.env_file}",
         f"BACKUP_ENV={stack.env_file}"],
        timeout=300, cwd=ROOT, env=stack.env,
    )  # fmt: skip
    assert refused.returncode != 0 and "not empty" in refused.stderr, refused.stderr[-2000:]
    stack.compose("start", "monitor", timeout=120)
    stack.timings["done"] = 1
