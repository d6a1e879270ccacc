"""The images the Docker tests run: `*_IMAGE` from the environment where set, else (as root, where
../shared/standin-images/build exists, as on this project's CI machine) the local stand-ins it
builds, else the pinned official defaults of the compose files and Dockerfiles.

So a bare `make test` on a machine without a registry runs the Docker tests on the stand-ins, as
`.ci/run` does, and on a user's machine with a registry on the official images."""

import os
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from taller_mlflow.local.servers import ROOT


@cache
def _built() -> dict[str, str]:
    build = Path(os.environ.get("STANDIN_BUILD", ROOT.parent / "shared/standin-images/build"))
    if os.environ.get("USE_STANDIN_IMAGES", "1") == "0" or not build.exists() or os.geteuid():
        return {}
    out = subprocess.run([str(build)], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        pytest.fail(f"{build} failed:\n{out.stderr[-3000:]}")
    return dict(re.findall(r"^export (\w+)=(\S+)$", out.stdout, re.M))


def images(wanted: list[str]) -> dict[str, str]:
    """`wanted` variables (PYTHON_IMAGE, MYSQL_IMAGE, ...) that have a value; the others are
    left to the files' defaults."""
    chosen = {k: os.environ[k] for k in wanted if os.environ.get(k)}
    if len(chosen) < len(wanted):
        chosen = {**{k: v for k, v in _built().items() if k in wanted}, **chosen}
    return chosen
