"""Secrets: no default password in any tracked file but .env.example and the docs; none in code,
none in the images' build context; client containers get no S3 keys; JupyterLab needs a token.

These are the only copies of the S3-key and password checks; the compose model's other settings
are checked in tests/static/test_compose.py.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from taller_mlflow.local.servers import ROOT
from tests.support.compose import ENV_EXAMPLE, compose, env_example, write_env

THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN")
# `KEY=value` lines, commented-out ones included (e.g. the opt-in MLflow auth credentials).
ASSIGNMENT = re.compile(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=(\S+)\s*$")
# Where a default password may appear: the example settings file and the documentation.
ALLOWED = re.compile(r"(^|/)\.env\.example$|\.md$")


def default_secrets() -> dict[str, str]:
    """The known default passwords: every *PASSWORD*/*SECRET*/*TOKEN* value in .env.example."""
    found = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = ASSIGNMENT.match(line)
        if match and SECRET_KEY.search(match[1]):
            found[match[1]] = match[2]
    return found


def tracked_files() -> list[Path]:
    if not shutil.which("git"):
        pytest.fail("no git on PATH: apt-get install git")
    if not (ROOT / ".git").exists():
        pytest.fail(f"{ROOT} is not a git checkout: the secrets checks read `git ls-files`")
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
    )
    return [ROOT / p for p in out.stdout.decode().split("\0") if p]


def test_env_example_declares_the_default_secrets():
    secrets = default_secrets()
    for key in [
        "MYSQL_ROOT_PASSWORD",
        "MYSQL_PASSWORD",
        "POSTGRES_PASSWORD",
        "MINIO_ROOT_PASSWORD",
        "AWS_SECRET_ACCESS_KEY",
        "JUPYTER_TOKEN",
        "MLFLOW_AUTH_ADMIN_PASSWORD",
        "MLFLOW_TRACKING_PASSWORD",
    ]:
        assert secrets.get(key), f".env.example: no default for {key}"


def test_no_default_password_in_tracked_files_outside_env_example_and_docs():
    secrets = {v for v in default_secrets().values() if len(v) >= 6}
    assert secrets
    leaks = []
    for path in tracked_files():
        rel = path.relative_to(ROOT).as_posix()
        if ALLOWED.search(rel) or not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        for secret in secrets:
            for lineno, line in enumerate(text.splitlines(), 1):
                if secret in line:
                    leaks.append(f"{rel}:{lineno}")
    assert not leaks, f"default passwords from .env.example found in: {leaks}"


# A credential written into code: user:password@ in a URL, or password=/secret=/token= "literal".
URL_CREDENTIAL = re.compile(r"://[A-Za-z0-9_.-]+:([^@/\s${}]+)@")
KEYWORD_CREDENTIAL = re.compile(
    r"""(?i)\b(?:password|passwd|secret|secret_access_key|token)\s*[=:]\s*["']([^"'${}\s]{4,})["']"""
)
# Not credentials: moto's test key for the throw-away S3 the tests start, the placeholders in
# usage examples (user:pass@host) and the fake password a test checks is hidden in messages.
# "***": what SQLAlchemy and this code print in place of a password (a redacted URL).
ALLOWED_LITERALS = {"testing", "pass", "password", "secret", "***"}
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
                    if match[1] not in ALLOWED_LITERALS:
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


def compose_services(tmp_path: Path, values: dict[str, str], file: str) -> dict:
    out = compose("-f", file, "config", "--format", "json", env_file=write_env(tmp_path, values))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["services"]


def test_api_and_jupyter_containers_get_no_s3_keys(tmp_path):
    services = compose_services(tmp_path / "example.env", env_example(), "docker-compose.yaml")
    for name in ["api", "jupyter"]:
        env = services[name].get("environment") or {}
        leaked = [k for k in env if k.startswith("AWS_") or k == "MLFLOW_S3_ENDPOINT_URL"]
        assert not leaked, f"{name} gets S3 settings {leaked}"
        assert not services[name].get("env_file"), f"{name} must not load the whole .env"
    # only the S3 users hold the keys: the MLflow server (proxy) and the bucket init job
    holders = {
        n for n, s in services.items() if "AWS_SECRET_ACCESS_KEY" in (s.get("environment") or {})
    }
    assert holders <= {"mlflow", "minio-init"}, holders


def test_jupyter_requires_a_token_from_env(tmp_path):
    without = {k: v for k, v in env_example().items() if k != "JUPYTER_TOKEN"}
    env_file = write_env(tmp_path / "no-token.env", without)
    out = compose("-f", "docker-compose-jupyter.yaml", "config", "--quiet", env_file=env_file)
    assert out.returncode != 0 and "JUPYTER_TOKEN" in out.stderr, out.stderr
    with_token = {**without, "JUPYTER_TOKEN": "t0k3n-from-env"}
    services = compose_services(tmp_path / "token.env", with_token, "docker-compose-jupyter.yaml")
    assert services["jupyter"]["environment"]["JUPYTER_TOKEN"] == "t0k3n-from-env"
