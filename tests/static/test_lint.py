"""The code stays ruff-clean (lint and format), as `make lint` checks."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from taller_mlflow.local.servers import ROOT


def ruff() -> str:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if not found:
        pytest.fail("ruff not found: pip install ruff (in the dev extra)")
    return found


def test_ruff_finds_no_lint_error():
    out = subprocess.run([ruff(), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]


def test_ruff_format_leaves_every_file_unchanged():
    out = subprocess.run(
        [ruff(), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout[-3000:]
