"""`docker compose config` on each compose file alone and on the top-level file, and the merged
model's contract: names, network, healthchecks, depends_on, ports, volumes, images, settings.
No engine needed; the Compose CLI must be installed (the test fails without it)."""

import json
import re
from pathlib import Path

import pytest

from taller_mlflow.local.servers import ROOT
from tests.support.compose import (
    COMPOSE_FILES,
    TOP,
    compose,
    env_example,
    model,
    write_env,
)

PARTS = {
    "docker-compose-mysql.yaml": {"mysql"},
    "docker-compose-postgresql.yaml": {"postgres"},
    "docker-compose-minio.yaml": {"minio", "minio-init", "minio-user"},
    "docker-compose-mlflow.yaml": {"mlflow", "mlflow-init"},
    "docker-compose-fastapi.yaml": {"api"},
    "docker-compose-dask.yaml": {"dask-scheduler", "dask-worker-1", "dask-worker-2"},
    "docker-compose-jupyter.yaml": {"jupyter"},
    "docker-compose-monitor.yaml": {"monitor"},
    "docker-compose-prometheus.yaml": {"prometheus"},
}
CONTAINER_NAMES = {
    "mysql": "mysql_model_data",
    "postgres": "mlflow_postgres",
    "minio": "Minio",
    "api": "api_models",
}
DASK = ["dask-scheduler", "dask-worker-1", "dask-worker-2"]
HEALTHCHECKED = ["mysql", "postgres", "minio", "mlflow", "api", *DASK]
LONG_RUNNING = [
    "mysql",
    "postgres",
    "minio",
    "mlflow",
    "api",
    "jupyter",
    "monitor",
    "prometheus",
    *DASK,
]
ONE_OFF = ["minio-init", "minio-user", "mlflow-init"]
NETWORK = "mi_red_compartida"


def test_compose_files_are_the_top_level_the_depends_override_and_one_per_part():
    assert set(COMPOSE_FILES) == {TOP, "docker-compose.depends.yaml", *PARTS}


@pytest.mark.parametrize("name", [TOP, *PARTS])
def test_compose_config_is_valid(name):
    out = compose("-f", name, "config", "--quiet")
    assert out.returncode == 0, f"docker compose -f {name} config:\n{out.stderr}"


@pytest.mark.parametrize("name", list(PARTS))
def test_each_file_alone_defines_its_services_on_the_shared_network(name):
    m = model(name)
    assert set(m["services"]) == PARTS[name]
    assert m["networks"][NETWORK]["name"] == NETWORK
    for svc, spec in m["services"].items():
        assert NETWORK in spec.get("networks", {}), f"{svc} in {name} is not on {NETWORK}"
        assert "depends_on" not in spec or set(spec["depends_on"]) <= PARTS[name], (
            f"{svc} in {name} depends on a service of another file: that file cannot come up alone"
        )


def test_top_level_includes_every_service():
    services = model()["services"]
    assert set(services) == set().union(*PARTS.values())
    for svc, container in CONTAINER_NAMES.items():
        assert services[svc]["container_name"] == container
    assert model()["name"] == "taller_mlflow"


def test_required_settings_fail_loudly_without_env(tmp_path):
    empty = write_env(tmp_path / "empty.env", {})
    out = compose("-f", TOP, "config", "--quiet", env_file=empty)
    assert out.returncode != 0 and "required variable" in out.stderr


def test_env_example_sets_every_required_variable():
    required = set()
    for name in COMPOSE_FILES:
        required |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", (ROOT / name).read_text()))
    missing = sorted(v for v in required if not env_example().get(v))
    assert not missing, f".env.example lacks {missing}"


def test_healthchecks_use_commands_the_images_have():
    services = model()["services"]
    for svc in HEALTHCHECKED:
        hc = services[svc].get("healthcheck")
        assert hc and hc.get("test") and not hc.get("disable"), f"{svc} has no healthcheck"
    joined = {svc: " ".join(services[svc]["healthcheck"]["test"]) for svc in HEALTHCHECKED}
    assert "mysqladmin ping" in joined["mysql"]
    assert "pg_isready" in joined["postgres"]
    assert "mc ready local" in joined["minio"]
    # python images have no curl
    for svc in ["mlflow", "api", *DASK]:
        assert "urllib.request" in joined[svc] and "curl" not in joined[svc]


def test_depends_on_waits_for_health_and_bucket():
    services = model()["services"]

    def cond(svc, dep):
        return services[svc]["depends_on"][dep]["condition"]

    assert cond("minio-init", "minio") == "service_healthy"
    assert cond("minio-user", "minio") == "service_healthy"
    assert cond("mlflow", "postgres") == "service_healthy"
    assert cond("mlflow", "minio-init") == "service_completed_successfully"
    assert cond("mlflow", "minio-user") == "service_completed_successfully"
    assert cond("mlflow-init", "mlflow") == "service_healthy"
    assert cond("api", "mlflow") == "service_healthy"
    assert cond("jupyter", "mysql") == "service_healthy"
    assert cond("jupyter", "mlflow") == "service_healthy"
    # the clients start once their MLflow users exist
    for client in ["api", "jupyter", "monitor"]:
        assert cond(client, "mlflow-init") == "service_completed_successfully", client
    # the notebook's fits wait for both Dask workers, and the workers for their scheduler
    for worker in ["dask-worker-1", "dask-worker-2"]:
        assert cond("jupyter", worker) == "service_healthy"
        assert cond(worker, "dask-scheduler") == "service_healthy"


def test_the_dask_cluster_runs_the_training_image_and_the_notebook_uses_it():
    services = model()["services"]
    for svc in DASK:
        assert services[svc]["image"] == services["monitor"]["image"] == "taller_mlflow/train:local"
        assert services[svc]["build"]["dockerfile"] == "train/Dockerfile"
    scheduler = " ".join(services["dask-scheduler"]["command"])
    assert scheduler.startswith("dask scheduler") and "--port 8786" in scheduler
    for worker in DASK[1:]:
        command = " ".join(services[worker]["command"])
        assert command.startswith("dask worker tcp://dask-scheduler:8786"), command
    env = services["jupyter"]["environment"]
    assert env["TALLER_DASK_SCHEDULER"] == "tcp://dask-scheduler:8786"
    # alone, JupyterLab fits in its own container: no scheduler it cannot reach
    assert "TALLER_DASK_SCHEDULER" not in model("docker-compose-jupyter.yaml")["services"][
        "jupyter"
    ].get("environment", {})


def test_restart_policies_and_named_volumes():
    m = model()
    for svc in LONG_RUNNING:
        assert m["services"][svc].get("restart") == "unless-stopped", svc
    for svc in ONE_OFF:
        assert m["services"][svc].get("restart", "no") == "no", svc
    mounts = {
        svc: {v["target"]: v for v in m["services"][svc].get("volumes", [])}
        for svc in ["mysql", "postgres", "minio"]
    }
    for svc, target in [
        ("mysql", "/var/lib/mysql"),
        ("postgres", "/var/lib/postgresql/data"),
        ("minio", "/data"),
    ]:
        mount = mounts[svc].get(target)
        assert mount and mount["type"] == "volume" and mount["source"] in m["volumes"], (
            f"{svc}: {target} must be on a named volume"
        )
    init = mounts["mysql"]["/docker-entrypoint-initdb.d"]
    assert init["type"] == "bind" and Path(init["source"]) == ROOT / "mysql-init"
    # JupyterLab's mounts (only these: tests/static/test_security.py) are checked there.


def test_ports_loopback_for_everything_but_the_api():
    """Where each port is published; that nothing else leaves loopback is test_security.py's."""
    services = model()["services"]

    def published(svc):
        ports = services[svc]["ports"]
        return {int(p["target"]): (p.get("host_ip", ""), p["published"]) for p in ports}

    assert published("mysql") == {3306: ("127.0.0.1", "3306")}
    assert published("postgres") == {5432: ("127.0.0.1", "5432")}
    assert published("minio") == {9000: ("127.0.0.1", "9000"), 9001: ("127.0.0.1", "9001")}
    assert published("mlflow") == {5000: ("127.0.0.1", "5000")}
    assert published("jupyter") == {8888: ("127.0.0.1", "8888")}
    assert published("prometheus") == {9090: ("127.0.0.1", "9090")}
    assert published("dask-scheduler") == {8787: ("127.0.0.1", "8787")}  # the dashboard
    assert not any(services[w].get("ports") for w in DASK[1:])
    assert published("api")[8989] == ("0.0.0.0", "8989")


def test_host_ports_are_overridable(tmp_path):
    overrides = {
        "MYSQL_HOST_PORT": "13306",
        "POSTGRES_HOST_PORT": "15432",
        "MINIO_HOST_PORT": "19000",
        "MINIO_CONSOLE_HOST_PORT": "19001",
        "MLFLOW_HOST_PORT": "15000",
        "API_HOST_PORT": "18989",
        "JUPYTER_HOST_PORT": "18888",
        "PROMETHEUS_HOST_PORT": "19090",
        "DASK_DASHBOARD_HOST_PORT": "18787",
    }
    custom = write_env(tmp_path / "ports.env", {**env_example(), **overrides})
    out = compose("-f", TOP, "config", "--format", "json", env_file=custom)
    assert out.returncode == 0, out.stderr
    services = json.loads(out.stdout)["services"].values()
    published = {p["published"] for s in services for p in s.get("ports", [])}
    assert published == set(overrides.values())


def test_images_pinned_and_overridable():
    services = model()["services"]
    expected = {
        "mysql": r"mysql:8\.4\.\d+",
        "postgres": r"postgres:16\.\d+",
        "minio": r"quay\.io/minio/minio:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ",
    }
    text = "".join((ROOT / n).read_text() for n in PARTS)
    for svc, pattern in expected.items():
        var = f"{svc.upper()}_IMAGE"
        wanted = rf"image: \$\{{{var}:-{pattern}\}}"
        assert re.search(wanted, text), f"{svc}: want image: ${{{var}:-<pinned tag>}}"
        assert re.fullmatch(pattern, services[svc]["image"])
    for svc in ["minio-init", "mlflow", "api", "jupyter", "monitor", *DASK]:
        build = services[svc]["build"]
        assert Path(build["context"]) == ROOT
        assert build["args"]["PYTHON_IMAGE"] == "python:3.11-slim"


def test_clients_reach_mlflow_by_service_name_and_only_through_its_proxy():
    """The S3 keys the clients must not hold are checked in test_security.py."""
    services = model()["services"]
    for svc in ["api", "jupyter"]:
        env = services[svc]["environment"]
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        # no presigned URLs straight to the store: every artifact transfer goes through MLflow
        assert env["MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD"] == "false"
        assert env["MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"] == "false"
    assert services["jupyter"]["environment"]["DATA_URL"].startswith("mysql+pymysql://")
    assert services["jupyter"]["environment"]["DATA_URL"].endswith("@mysql:3306/mydatabase")
    assert services["jupyter"]["environment"]["JUPYTER_TOKEN"]
    mlflow = services["mlflow"]["environment"]
    assert mlflow["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://")
    assert mlflow["MLFLOW_ARTIFACTS_DESTINATION"] == "s3://mlflows3"
    assert mlflow["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
