"""One version set: app/requirements.txt is generated from constraints.txt, pins as it does and holds
none of the training stack, and every pin installs on the images' Python."""

import os
import re
import subprocess
import sys

from taller_mlflow.local.servers import ROOT
from tests.support.lean import FORBIDDEN_DISTRIBUTIONS


def test_app_requirements_generated_from_constraints():
    out = subprocess.run(
        [sys.executable, "scripts/gen_app_requirements.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_app_requirements_hold_no_training_stack_and_pin_as_constraints_do():
    """The API serves ONNX graphs over onnxruntime: its requirements name none of the training
    stack, and each of their pins is the one constraints.txt holds."""

    def pins(path):
        found = {}
        for line in (ROOT / path).read_text().splitlines():
            m = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;#]+)", line)
            if m:
                found[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
        return found

    app, constraints = pins("app/requirements.txt"), pins("constraints.txt")
    assert app, "app/requirements.txt pins nothing"
    training = sorted(set(app) & set(FORBIDDEN_DISTRIBUTIONS))
    assert not training, f"the API's requirements hold the training stack: {training}"
    differ = {name: (version, constraints.get(name)) for name, version in app.items()}
    differ = {name: pair for name, pair in differ.items() if pair[0] != pair[1]}
    assert not differ, f"pinned otherwise than constraints.txt (app, constraints): {differ}"


def test_constraints_admit_the_images_python():
    """Each pin must install on the images' Python: python:3.11-slim, or the stand-in's 3.11.2."""
    from importlib import metadata

    from packaging.specifiers import SpecifierSet

    floor = os.environ.get("IMAGE_PYTHON_FLOOR", "3.11.2")
    bad = []
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if not m:
            continue
        try:
            dist = metadata.distribution(m.group(1))
        except metadata.PackageNotFoundError:
            continue
        requires = dist.metadata.get("Requires-Python")
        if dist.version == m.group(2) and requires and floor not in SpecifierSet(requires):
            bad.append(f"{m.group(1)}=={m.group(2)} (Requires-Python {requires})")
    assert not bad, f"not installable on Python {floor}: {bad}"
