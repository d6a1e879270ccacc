"""The API's image installs pyproject's base and `api` extra only: app/dockerfile pip-installs
app/requirements.txt and `.[api]` and nothing else, and nothing those pull in is part of the
training stack (MLflow, scikit-learn, pandas, SciPy, matplotlib, skl2onnx, cloudpickle;
test_pins.py checks app/requirements.txt itself). What needs the training stack (the drift job,
training) runs in train/Dockerfile's image. tests/stack/test_image_contents.py checks the built
images themselves."""

import re
import shlex
import tomllib

from taller_mlflow.local.servers import ROOT
from tests.support.compose import model
from tests.support.lean import FORBIDDEN_DISTRIBUTIONS, closure

APP_DOCKERFILE = ROOT / "app" / "dockerfile"
TRAIN_DOCKERFILE = ROOT / "train" / "Dockerfile"
# The Dockerfiles whose first layers (the mlflow install) are the same, so they are shared.
MLFLOW_IMAGES = ["mlflow/Dockerfile", "JupyterLab/dockerfile", "train/Dockerfile"]


def instructions(path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            found.append((keyword.upper(), " ".join(args.split())))
    return found


def pip_installs(path) -> list[list[str]]:
    """The arguments of every `pip install` the Dockerfile runs."""
    found = []
    for keyword, args in instructions(path):
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;|\|\|", args):
            words = shlex.split(command)
            if words[:1] == ["python"] and words[1:3] == ["-m", "pip"]:
                words = words[2:]
            if words[:2] == ["pip", "install"]:
                found.append(words[2:])
    return found


def targets(args: list[str]) -> tuple[set[str], set[str]]:
    """(requirement files, packages) a pip install's arguments name; options are dropped."""
    files, packages, words = set(), set(), iter(args)
    for word in words:
        if word in ("-r", "--requirement"):
            files.add(next(words))
        elif word in ("-c", "--constraint"):
            next(words)
        elif not word.startswith("-"):
            packages.add(word)
    return files, packages


def test_the_api_image_installs_its_requirements_and_the_api_extra_only():
    installs = pip_installs(APP_DOCKERFILE)
    assert installs, "app/dockerfile installs nothing"
    files, packages = set(), set()
    for args in installs:
        assert "-c" in args and "/tmp/constraints.txt" in args, f"unpinned: pip install {args}"
        more_files, more_packages = targets(args)
        files |= more_files
        packages |= more_packages
    assert packages == {".[api]"}, f"app/dockerfile installs {sorted(packages)}"
    assert files <= {"/tmp/requirements.txt"}, files
    copies = [args for keyword, args in instructions(APP_DOCKERFILE) if keyword == "COPY"]
    if files:
        assert "app/requirements.txt /tmp/requirements.txt" in copies, copies


def test_nothing_the_api_extra_pulls_in_belongs_to_the_training_stack():
    """The base and `api` dependencies, followed through every installed distribution's own
    requirements: none of them brings MLflow or the scientific stack in by the back door."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = closure(project["dependencies"] + project["optional-dependencies"]["api"])
    leaked = {
        name: " > ".join(chain) for name, chain in wanted.items() if name in FORBIDDEN_DISTRIBUTIONS
    }
    assert not leaked, leaked
    assert {"fastapi", "uvicorn", "onnxruntime"} <= set(wanted)


def test_the_train_image_installs_the_train_extra():
    packages = set()
    for args in pip_installs(TRAIN_DOCKERFILE):
        assert "-c" in args and "/tmp/constraints.txt" in args, f"unpinned: pip install {args}"
        packages |= targets(args)[1]
    assert ".[train]" in packages, packages
    cmd = [args for keyword, args in instructions(TRAIN_DOCKERFILE) if keyword == "USER"]
    assert cmd and cmd[-1] not in ("root", "0"), "the training image runs as root"


def test_the_mlflow_images_share_their_first_layers_and_the_api_image_none_of_them():
    """mlflow/Dockerfile, JupyterLab/dockerfile and train/Dockerfile start with the same
    instructions up to and including the mlflow install, so Docker stores those layers once; the
    API image has no such layer."""

    def head(name: str) -> list[tuple[str, str]]:
        steps = instructions(ROOT / name)
        end = next(
            i for i, (keyword, args) in enumerate(steps) if keyword == "RUN" and "mlflow" in args
        )
        return steps[: end + 1]

    first = head(MLFLOW_IMAGES[0])
    for name in MLFLOW_IMAGES[1:]:
        assert head(name) == first, f"{name} does not start as {MLFLOW_IMAGES[0]} does"
    for keyword, args in instructions(APP_DOCKERFILE):
        assert not (keyword == "RUN" and re.search(r"\bmlflow\b", args)), args


def test_compose_runs_the_drift_job_in_the_train_image_and_only_the_api_in_the_api_image():
    services = model()["services"]
    assert services["api"]["build"]["dockerfile"] == "app/dockerfile"
    assert services["api"]["image"] == "taller_mlflow/api:local"
    monitor = services["monitor"]
    assert monitor["build"]["dockerfile"] == "train/Dockerfile"
    assert monitor["image"] == "taller_mlflow/train:local"
    assert monitor["command"] == ["python", "-m", "taller_mlflow.monitor"]
    on_api_image = {
        name for name, spec in services.items() if spec.get("image") == services["api"]["image"]
    }
    assert on_api_image == {"api"}, on_api_image
