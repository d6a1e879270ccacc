"""Secrets: no default password in any tracked file but .env.example and the docs; none in code,
none in the images' build context; client containers get no S3 keys; JupyterLab needs a token.

The compose model's own checks (api/jupyter environment, password literals in compose files) live
in tests/test_static.py; here the same promises are checked over the whole repository.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = ROOT / ".env.example"
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
    if not (ROOT / ".git").exists() or not shutil.which("git"):
        pytest.skip("not a git checkout")
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
ALLOWED_LITERALS = {"testing", "pass", "password", "secret"}
CODE_SUFFIXES = {".py", ".sh", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".service", ".ipynb"}


def test_no_hard_coded_credentials_in_code():
    found = []
    for path in tracked_files():
        rel = path.relative_to(ROOT).as_posix()
        is_code = path.suffix in CODE_SUFFIXES or path.name.lower() in {"dockerfile", "makefile"}
        if not is_code or not path.is_file() or rel == "tests/test_security.py":
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
    for dockerfile in ["mlflow/Dockerfile", "app/dockerfile", "JupyterLab/dockerfile"]:
        text = (ROOT / dockerfile).read_text()
        assert not re.search(r"^\s*(COPY|ADD)\s.*\.env\b", text, re.M), dockerfile
        assert not re.search(r"^\s*(ENV|ARG)\s+\S*(PASSWORD|SECRET|TOKEN|AWS_)", text, re.M), (
            dockerfile
        )


# --- the compose model: parsed from `docker compose config` ---------------------------------------


def compose_config(env: dict[str, str], *files: str) -> subprocess.CompletedProcess:
    if (
        not shutil.which("docker")
        or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode
    ):
        pytest.skip("no `docker compose` (Compose v2) binary")
    clean = {k: v for k, v in os.environ.items() if not re.match(r"[A-Z_]+$", k) or k == "PATH"}
    clean.update(env)
    args = [a for f in files for a in ("-f", f)]
    return subprocess.run(
        ["docker", "compose", "--env-file", os.devnull, *args, "config", "--format", "json"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def example_env() -> dict[str, str]:
    env = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            env[match[1]] = match[2]
    return env


def test_api_and_jupyter_containers_get_no_s3_keys():
    import json

    out = compose_config(example_env(), "docker-compose.yaml")
    assert out.returncode == 0, out.stderr
    services = json.loads(out.stdout)["services"]
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


def test_jupyter_requires_a_token_from_env():
    env = {k: v for k, v in example_env().items() if k != "JUPYTER_TOKEN"}
    out = compose_config(env, "docker-compose-jupyter.yaml")
    assert out.returncode != 0 and "JUPYTER_TOKEN" in out.stderr, out.stderr
    out = compose_config({**env, "JUPYTER_TOKEN": "t0k3n-from-env"}, "docker-compose-jupyter.yaml")
    assert out.returncode == 0, out.stderr
    import json

    jupyter = json.loads(out.stdout)["services"]["jupyter"]
    assert jupyter["environment"]["JUPYTER_TOKEN"] == "t0k3n-from-env"
