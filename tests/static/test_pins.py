"""One version set: app/requirements.txt is generated from constraints.txt and pins the training
versions, and every pin installs on the images' Python."""

import os
import re
import subprocess
import sys

from taller_mlflow.local.servers import ROOT


def test_app_requirements_generated_from_constraints():
    out = subprocess.run(
        [sys.executable, "scripts/gen_app_requirements.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_app_requirements_pin_training_versions():
    def pins(path):
        found = {}
        for line in (ROOT / path).read_text().splitlines():
            m = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;#]+)", line)
            if m:
                found[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
        return found

    app, constraints = pins("app/requirements.txt"), pins("constraints.txt")
    for name in ["mlflow", "scikit-learn"]:
        assert app.get(name) and app[name] == constraints.get(name), name


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
