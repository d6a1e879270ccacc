"""The built images hold what their processes need and the API image nothing more (marker `docker`).

    pytest tests/stack/test_image_contents.py -v

It builds the API image (app/dockerfile, taller_mlflow/api:local) and the training image
(train/Dockerfile, taller_mlflow/train:local, the monitor service's) with compose, as `make up`
and tests/stack/test_stack.py do: the same tags, build arguments and layer cache, so whichever of
the two files runs first builds them and the other finds them up to date. In containers of them:
  - the API image imports onnxruntime, FastAPI and the rest of what the API runs, none of MLflow,
    scikit-learn, pandas, SciPy, matplotlib, skl2onnx or cloudpickle (not installed at all), and
    `python -m app --help` works; it runs as a non-root user;
  - the training image imports MLflow, SciPy, scikit-learn, skl2onnx and Dask (its workers run
    this image), and the drift job's and training's `--help` work.
Both images' sizes go to test-artifacts/images.txt (and the terminal). PYTHON_IMAGE from the
environment, else (as root) the stand-in ../shared/standin-images/build makes.
"""

import json
import shutil
import subprocess
import time

import pytest

from taller_mlflow.local.servers import ROOT
from tests.support.compose import ENV_EXAMPLE, clean_env, compose_cmd
from tests.support.lean import (
    API_MODULES,
    FORBIDDEN_DISTRIBUTIONS,
    FORBIDDEN_MODULES,
    TRAIN_MODULES,
)
from tests.support.standins import images

pytestmark = pytest.mark.timeout(2400)

API_IMAGE = "taller_mlflow/api:local"
TRAIN_IMAGE = "taller_mlflow/train:local"
BUILDS = {  # compose service → (its file, the image it builds)
    "api": ("docker-compose-fastapi.yaml", API_IMAGE),
    "monitor": ("docker-compose-monitor.yaml", TRAIN_IMAGE),
}
REPORT = ROOT / "test-artifacts" / "images.txt"

# Run in a container: which modules import, which distributions are installed, who runs it.
PROBE = r"""
import importlib, json, os, re, sys
from importlib import metadata

def imports(name):
    try:
        importlib.import_module(name)
        return "ok"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]

installed = sorted({re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in metadata.distributions()})
print(json.dumps({
    "imports": {name: imports(name) for name in sys.argv[1:]},
    "installed": installed,
    "uid": os.getuid(),
}))
"""


def _run(cmd: list[str], timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture(scope="module")
def built(pytestconfig) -> dict:
    """Both images, built by compose (a no-op when up to date); the seconds the build took."""
    if not shutil.which("docker") or _run(["docker", "info"], timeout=60).returncode != 0:
        pytest.fail("no Docker engine reachable: install docker.io (or Docker Engine), start it")
    env = {**clean_env(), **images(["PYTHON_IMAGE"])}
    files = [arg for name, _ in BUILDS.values() for arg in ("-f", name)]
    cmd = [*compose_cmd(), "--env-file", str(ENV_EXAMPLE), *files, "build", *BUILDS]
    started = time.monotonic()
    out = _run(cmd, timeout=2400, cwd=ROOT, env=env)
    assert out.returncode == 0, f"docker compose build failed:\n{out.stderr[-4000:]}"
    return {"build": time.monotonic() - started, "python_image": env.get("PYTHON_IMAGE", "")}


def probe(image: str, modules: tuple[str, ...]) -> dict:
    out = _run(
        ["docker", "run", "--rm", "--network", "none", image, "python", "-c", PROBE, *modules]
    )
    assert out.returncode == 0, f"{image}: the probe failed:\n{out.stderr[-3000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def in_container(image: str, *command: str) -> subprocess.CompletedProcess:
    return _run(["docker", "run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp",
                 image, *command])  # fmt: skip


def size(image: str) -> int:
    out = _run(["docker", "image", "inspect", "-f", "{{.Size}}", image], timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


def test_the_api_image_holds_the_api_and_none_of_the_training_stack(built):
    found = probe(API_IMAGE, (*API_MODULES, *FORBIDDEN_MODULES))
    missing = {m: found["imports"][m] for m in API_MODULES if found["imports"][m] != "ok"}
    assert not missing, f"the API image cannot import {missing}"
    importable = [m for m in FORBIDDEN_MODULES if found["imports"][m] == "ok"]
    assert not importable, f"the API image imports the training stack: {importable}"
    for module in ("mlflow", "sklearn"):
        assert found["imports"][module].startswith("ModuleNotFoundError"), found["imports"][module]
    installed = sorted(set(found["installed"]) & set(FORBIDDEN_DISTRIBUTIONS))
    assert not installed, f"installed in the API image: {installed}"
    assert found["uid"] != 0, "the API image runs as root"


def test_the_api_image_entry_point_answers_help(built):
    out = in_container(API_IMAGE, "python", "-m", "app", "--help")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "python -m app" in out.stdout and "--workers" in out.stdout, out.stdout[:2000]
    inspect = _run(["docker", "image", "inspect", "-f", "{{json .Config.Cmd}}", API_IMAGE])
    assert json.loads(inspect.stdout) == ["python", "-m", "app"]


def test_the_train_image_holds_mlflow_scipy_and_the_jobs(built):
    found = probe(TRAIN_IMAGE, TRAIN_MODULES)
    missing = {m: r for m, r in found["imports"].items() if r != "ok"}
    assert not missing, f"the training image cannot import {missing}"
    assert found["uid"] != 0, "the training image runs as root"
    for module in ("taller_mlflow.monitor", "taller_mlflow.train"):
        out = in_container(TRAIN_IMAGE, "python", "-m", module, "--help")
        assert out.returncode == 0, f"{module} --help:\n{out.stderr[-3000:]}"


def test_the_image_sizes_are_recorded(built, pytestconfig):
    """No budget is asserted here: the sizes go to test-artifacts/images.txt for the record."""
    api, train = size(API_IMAGE), size(TRAIN_IMAGE)
    line = (
        f"images ({built['python_image'] or 'python:3.11-slim'}): "
        f"{API_IMAGE} {api} bytes ({api / 1e6:.0f} MB), "
        f"{TRAIN_IMAGE} {train} bytes ({train / 1e6:.0f} MB), api/train {api / train:.2f}; "
        f"compose build {built['build']:.0f} s"
    )
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    with REPORT.open("a") as out:
        out.write(line + "\n")
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + line, flush=True)
