"""The API image starts through `python -m app`, the one entry point that honours the settings:
nothing in the image or in compose pins the host, port or workers past them (bug 6)."""

import json
import re

from taller_mlflow.local.servers import ROOT
from tests.support.compose import model

DOCKERFILE = ROOT / "app" / "dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of app/dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            found.append((keyword.upper(), args.strip()))
    return found


def test_the_image_runs_python_m_app_with_no_flags():
    cmds = [args for keyword, args in instructions() if keyword == "CMD"]
    assert cmds, "app/dockerfile has no CMD"
    assert json.loads(cmds[-1]) == ["python", "-m", "app"]
    assert not [args for keyword, args in instructions() if keyword == "ENTRYPOINT"]


def test_the_image_pins_no_worker_count():
    for keyword, args in instructions():
        assert "--workers" not in args, f"{keyword} {args}"
        if keyword == "ENV":
            assert "TALLER_API_WORKERS" not in args, "the image would pin the worker count"


def test_compose_runs_the_image_entry_point_and_passes_the_worker_setting():
    api = model("docker-compose-fastapi.yaml")["services"]["api"]
    assert api.get("command") is None and api.get("entrypoint") is None
    assert api["environment"]["TALLER_API_WORKERS"] == "1"
