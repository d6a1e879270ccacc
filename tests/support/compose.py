"""`docker compose config` for the static checks: the merged model of the compose files, read with
an env file and none of the caller's own settings."""

import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from taller_mlflow.local.servers import ROOT

ENV_EXAMPLE = ROOT / ".env.example"
TOP = "docker-compose.yaml"
COMPOSE_FILES = sorted(p.name for p in ROOT.glob("docker-compose*.yaml"))


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
def compose_cmd() -> tuple[str, ...]:
    for cmd in (("docker", "compose"), ("docker-compose",)):
        if shutil.which(cmd[0]):
            probe = subprocess.run([*cmd, "version"], capture_output=True, text=True)
            if probe.returncode == 0:
                return cmd
    pytest.fail("no `docker compose` (Compose v2) on PATH: install docker-compose-plugin")


def compose(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*compose_cmd(), "--env-file", str(env_file), *args],
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


def write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path
