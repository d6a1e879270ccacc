"""Secrets and exposure, read from the files and `docker compose config` (no engine).

.env.example holds placeholders only, and no password it ever published is left in any tracked
file; none is written into code or an image; every client container holds its own MLflow user and
no S3 key; JupyterLab gets the notebook folder and the package, never the checkout or .env; with
the defaults nothing but the API is published beyond 127.0.0.1, and MLflow's auth is on.

These are the only copies of the S3-key and password checks; the compose model's other settings
are checked in tests/static/test_compose.py.
"""

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from taller_mlflow.local.envfile import PLACEHOLDER, PUBLISHED
from taller_mlflow.local.servers import ROOT
from tests.support.compose import ENV_EXAMPLE, compose, env_example, write_env

THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$")
NOT_SECRET = {"MLFLOW_S3_ACCESS_KEY"}  # a MinIO user's name
SECRETS = [
    "MYSQL_ROOT_PASSWORD",
    "MYSQL_PASSWORD",
    "POSTGRES_PASSWORD",
    "MONITORING_DB_PASSWORD",
    "MINIO_ROOT_PASSWORD",
    "MLFLOW_S3_SECRET_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "MLFLOW_AUTH_ADMIN_PASSWORD",
    "MLFLOW_TRAINER_PASSWORD",
    "MLFLOW_PROMOTER_PASSWORD",
    "MLFLOW_READER_PASSWORD",
    "MLFLOW_MONITOR_PASSWORD",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY",
    "TALLER_WEBHOOK_SECRET",
    "JUPYTER_TOKEN",
]


def tracked_files() -> list[Path]:
    if not shutil.which("git"):
        pytest.fail("no git on PATH: apt-get install git")
    if not (ROOT / ".git").exists():
        pytest.fail(f"{ROOT} is not a git checkout: the secrets checks read `git ls-files`")
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
    )
    return [ROOT / p for p in out.stdout.decode().split("\0") if p]


def test_env_example_holds_a_placeholder_for_every_secret_and_no_value():
    example = env_example()
    for key in SECRETS:
        assert PLACEHOLDER.fullmatch(example.get(key, "")), f".env.example: {key} is no placeholder"
    for key, value in example.items():
        if SECRET_KEY.search(key) and key not in NOT_SECRET:
            assert PLACEHOLDER.fullmatch(value), f".env.example: {key}={value} is no placeholder"
    # the URLs carry their passwords' placeholders, so make up fills both with one secret
    assert f":{example['MYSQL_PASSWORD']}@" in example["DATA_URL"]
    assert f":{example['POSTGRES_PASSWORD']}@" in example["MLFLOW_BACKEND_STORE_URI"]
    assert example["AWS_SECRET_ACCESS_KEY"] == example["MLFLOW_S3_SECRET_KEY"]
    # one placeholder per secret: none may stand for two
    assert (
        len({example[k] for k in SECRETS} - {example["MLFLOW_S3_SECRET_KEY"]}) == len(SECRETS) - 2
    )


def words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9_.-]{8,64}", text))


def test_no_password_env_example_ever_published_is_left_in_any_tracked_file():
    """taller_mlflow/local/envfile.py refuses those values in a .env; they are in no file either
    (compared by their sha256, as envfile.py keeps them)."""
    found = []
    for path in tracked_files():
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        for word in words(text):
            if hashlib.sha256(word.encode()).hexdigest() in PUBLISHED:
                found.append(path.relative_to(ROOT).as_posix())
    assert not found, f"a password .env.example once published is in: {sorted(set(found))}"


# A credential written into code: user:password@ in a URL, or password=/secret=/token= "literal".
URL_CREDENTIAL = re.compile(r"://[A-Za-z0-9_.-]+:([^@/\s${}]+)@")
KEYWORD_CREDENTIAL = re.compile(
    r"""(?i)\b(?:password|passwd|secret|secret_access_key|token)\s*[=:]\s*["']([^"'${}\s]{4,})["']"""
)
# Not credentials: moto's test key for the throw-away S3 the tests start, the placeholders in
# usage examples (user:pass@host), the fake password a test checks is hidden in messages, and the
# wrong secret a webhook test signs with. "***": what SQLAlchemy and this code print in place of
# a password (a redacted URL).
ALLOWED_LITERALS = {"testing", "pass", "password", "secret", "***", "not-the-secret"}
CODE_SUFFIXES = {".py", ".sh", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".service", ".ipynb"}


def test_no_hard_coded_credentials_in_code():
    found = []
    for path in tracked_files():
        rel = path.relative_to(ROOT).as_posix()
        is_code = path.suffix in CODE_SUFFIXES or path.name.lower() in {"dockerfile", "makefile"}
        if not is_code or not path.is_file() or rel == THIS_FILE:
            continue
        for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for pattern in (URL_CREDENTIAL, KEYWORD_CREDENTIAL):
                for match in pattern.finditer(line):
                    if match[1] not in ALLOWED_LITERALS and not PLACEHOLDER.match(match[1]):
                        found.append(f"{rel}:{lineno}: {line.strip()[:120]}")
    assert not found, "hard-coded credentials:\n" + "\n".join(found)


def test_images_never_receive_the_env_file():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert ".env" in ignored, ".dockerignore must keep .env out of every build context"
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    for dockerfile in [
        "mlflow/Dockerfile",
        "app/dockerfile",
        "train/Dockerfile",
        "JupyterLab/dockerfile",
        "minio/Dockerfile",
    ]:
        text = (ROOT / dockerfile).read_text()
        assert not re.search(r"^\s*(COPY|ADD)\s.*\.env\b", text, re.M), dockerfile
        assert not re.search(r"^\s*(ENV|ARG)\s+\S*(PASSWORD|SECRET|TOKEN|AWS_)", text, re.M), (
            dockerfile
        )


# --- the compose model: parsed from `docker compose config` ---------------------------------------


def compose_services(tmp_path: Path, values: dict[str, str], file: str = "docker-compose.yaml"):
    out = compose("-f", file, "config", "--format", "json", env_file=write_env(tmp_path, values))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["services"]


def holders(services: dict, variable: str) -> set[str]:
    return {n for n, s in services.items() if variable in (s.get("environment") or {})}


def test_only_mlflow_holds_s3_keys_and_they_are_not_minios_root(tmp_path):
    services = compose_services(tmp_path / "example.env", env_example())
    for name in ["api", "jupyter", "monitor", "mlflow-init"]:
        env = services[name].get("environment") or {}
        leaked = [
            k for k in env if k.startswith(("AWS_", "MINIO_")) or k == "MLFLOW_S3_ENDPOINT_URL"
        ]
        assert not leaked, f"{name} gets S3 settings {leaked}"
        assert not services[name].get("env_file"), f"{name} must not load the whole .env"
    # only the S3 users hold keys: the MLflow server (proxy) and the bucket init job
    assert holders(services, "AWS_SECRET_ACCESS_KEY") <= {"mlflow", "minio-init"}
    assert holders(services, "MINIO_ROOT_PASSWORD") == {"minio", "minio-user"}
    # minio-init creates the bucket with MinIO's root keys (as AWS_*): the one other holder
    init = services["minio-init"]["environment"]
    assert init["AWS_SECRET_ACCESS_KEY"] == env_example()["MINIO_ROOT_PASSWORD"]
    mlflow = services["mlflow"]["environment"]
    example = env_example()
    assert (
        mlflow["AWS_ACCESS_KEY_ID"] == example["MLFLOW_S3_ACCESS_KEY"] != example["MINIO_ROOT_USER"]
    )
    assert mlflow["AWS_SECRET_ACCESS_KEY"] == example["MLFLOW_S3_SECRET_KEY"]
    assert mlflow["AWS_SECRET_ACCESS_KEY"] != example["MINIO_ROOT_PASSWORD"]


def test_each_client_signs_in_to_mlflow_as_its_own_user(tmp_path):
    services = compose_services(tmp_path / "example.env", env_example())
    example = env_example()
    users = {"jupyter": "TRAINER", "api": "READER", "monitor": "MONITOR"}
    for service, role in users.items():
        env = services[service]["environment"]
        assert env["MLFLOW_TRACKING_USERNAME"] == example[f"MLFLOW_{role}_USERNAME"], service
        assert env["MLFLOW_TRACKING_PASSWORD"] == example[f"MLFLOW_{role}_PASSWORD"], service
    # the admin's and the promoter's passwords stay with the server and its init
    assert holders(services, "MLFLOW_AUTH_ADMIN_PASSWORD") == {"mlflow", "mlflow-init"}
    assert holders(services, "MLFLOW_PROMOTER_PASSWORD") == {"mlflow-init"}
    in_env = {
        name
        for name, service in services.items()
        for value in (service.get("environment") or {}).values()
        if value == example["MLFLOW_PROMOTER_PASSWORD"]
    }
    assert in_env == {"mlflow-init"}, in_env


def test_the_promoter_runs_apart_and_only_when_asked(tmp_path):
    """`promoter` (make notebook's second half) is in no `up`: profile tools, no port, no mount."""
    out = compose("--profile", "tools", "-f", "docker-compose-jupyter.yaml", "config", "--format",
                  "json", env_file=ENV_EXAMPLE)  # fmt: skip
    assert out.returncode == 0, out.stderr
    promoter = json.loads(out.stdout)["services"]["promoter"]
    assert promoter["profiles"] == ["tools"]
    assert not promoter.get("ports") and not promoter.get("volumes")
    env = promoter["environment"]
    assert env["MLFLOW_TRACKING_USERNAME"] == env_example()["MLFLOW_PROMOTER_USERNAME"]
    assert not [k for k in env if k.startswith(("AWS_", "MINIO_", "MYSQL_", "JUPYTER_"))]


def test_jupyter_mounts_the_notebook_folder_and_the_package_read_only_never_the_checkout(tmp_path):
    jupyter = compose_services(tmp_path / "example.env", env_example())["jupyter"]
    mounts = {Path(v["source"]): v for v in jupyter["volumes"]}
    assert set(mounts) == {ROOT / "JupyterLab", ROOT / "taller_mlflow"}, set(mounts)
    assert not mounts[ROOT / "JupyterLab"].get("read_only")  # students save their notebooks
    assert mounts[ROOT / "taller_mlflow"].get("read_only") is True  # the promoter's code
    assert not jupyter.get("env_file")
    env = jupyter["environment"]
    assert not [k for k in env if "ADMIN" in k or k.startswith(("MLFLOW_PROMOTER", "MINIO"))]


def test_jupyter_requires_a_token_from_env(tmp_path):
    without = {k: v for k, v in env_example().items() if k != "JUPYTER_TOKEN"}
    env_file = write_env(tmp_path / "no-token.env", without)
    out = compose("-f", "docker-compose-jupyter.yaml", "config", "--quiet", env_file=env_file)
    assert out.returncode != 0 and "JUPYTER_TOKEN" in out.stderr, out.stderr
    with_token = {**without, "JUPYTER_TOKEN": "t0k3n-from-env"}
    services = compose_services(tmp_path / "token.env", with_token, "docker-compose-jupyter.yaml")
    assert services["jupyter"]["environment"]["JUPYTER_TOKEN"] == "t0k3n-from-env"
    # and the image refuses none, or the placeholder (its CMD)
    cmd = (ROOT / "JupyterLab/dockerfile").read_text()
    assert "''|CHANGE-ME*) echo" in cmd


def published(services: dict) -> dict[tuple[str, int], str]:
    return {
        (name, int(p["target"])): p.get("host_ip") or "0.0.0.0"
        for name, service in services.items()
        for p in service.get("ports", [])
    }


@pytest.mark.security
def test_with_the_defaults_nothing_but_the_api_is_published_beyond_loopback(tmp_path):
    defaults = {k: v for k, v in env_example().items() if not k.endswith("_BIND")}
    ports = published(compose_services(tmp_path / "defaults.env", defaults))
    beyond = {where: ip for where, ip in ports.items() if ip != "127.0.0.1"}
    assert beyond == {("api", 8989): "0.0.0.0"}, beyond
    # .env.example's own values say the same
    ports = published(compose_services(tmp_path / "example.env", env_example()))
    assert {where for where, ip in ports.items() if ip != "127.0.0.1"} == {("api", 8989)}


def test_one_setting_opens_mlflow_and_jupyter_to_a_classroom_and_nothing_else(tmp_path):
    values = {**env_example(), "CLASSROOM_BIND": "0.0.0.0"}
    services = compose_services(tmp_path / "classroom.env", values)
    beyond = {where for where, ip in published(services).items() if ip != "127.0.0.1"}
    assert beyond == {("api", 8989), ("mlflow", 5000), ("jupyter", 8888)}, beyond
    # start_mlflow.sh is told where it is reachable from, so it refuses that without auth
    assert services["mlflow"]["environment"]["MLFLOW_PUBLISHED_HOST"] == "0.0.0.0"


@pytest.mark.security
def test_mlflow_auth_is_on_by_default_in_the_stack(tmp_path):
    without = {k: v for k, v in env_example().items() if k != "MLFLOW_AUTH"}
    services = compose_services(tmp_path / "no-auth-setting.env", without)
    assert services["mlflow"]["environment"]["MLFLOW_AUTH"] == "true"
    assert env_example()["MLFLOW_AUTH"] == "true"
    server_env = (ROOT / "deploy/kubernetes/base/server.env").read_text()
    assert re.search(r"^MLFLOW_AUTH=true$", server_env, re.M)
    assert "Environment=MLFLOW_AUTH=true" in (ROOT / "mlflow_serv.service").read_text()
    assert 'case "${MLFLOW_AUTH:-true}"' in (ROOT / "mlflow/start_mlflow.sh").read_text()
