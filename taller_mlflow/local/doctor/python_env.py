"""make run's Python 3.11 and its .venv."""

from __future__ import annotations

from taller_mlflow.local.doctor.common import (
    OK,
    PROBLEM,
    PYTHON_WANTED,
    M,
    Options,
    Result,
    path_kind,
)
from taller_mlflow.local.doctor.machine import (
    Probe,
)


def check_python(probe: Probe, opts: Options) -> list[Result]:
    needed = frozenset(p for p in opts.paths if p in ("run", "unit"))
    python = opts.python or probe.which("python3.11") or probe.which("python3")
    if not python:
        fix = M.of(
            "install Python 3.11: sudo apt-get install python3.11 python3.11-venv (macOS: brew "
            "install python@3.11; Windows: inside WSL)"
        )
        return [
            Result(PROBLEM, "python", M.of("no Python 3 found (python3.11, python3)"), fix, needed)
        ]
    code = "import sys; print('%d.%d.%d' % sys.version_info[:3]); import venv, ensurepip; ensurepip.version()"
    ran = probe.run([python, "-c", code])
    version = ran.out.strip().splitlines()[0] if ran.out.strip() else ""
    if not version:
        detail = (ran.err.strip().splitlines() or ["no output"])[-1]
        return [
            Result(
                PROBLEM,
                "python",
                M.of("{path} does not run: {error}", path=python, error=detail),
                None,
                needed,
            )
        ]
    wanted = ".".join(map(str, PYTHON_WANTED))
    if not version.startswith(wanted + "."):
        found = M.of(
            "Python {version} ({path}): {path_kind} needs Python 3.11",
            version=version,
            path=python,
            path_kind=path_kind(needed),
        )
        fix = M.of(
            "install Python 3.11: sudo apt-get install python3.11 python3.11-venv (macOS: brew "
            "install python@3.11; Windows: inside WSL)"
        )
        return [Result(PROBLEM, "python", found, fix, needed)]
    if ran.code != 0:
        found = M.of(
            "Python {version} ({path}) has no working venv/ensurepip", version=version, path=python
        )
        return [
            Result(PROBLEM, "python", found, M.of("sudo apt-get install python3.11-venv"), needed)
        ]
    found = M.of("Python {version} ({path}) with venv and ensurepip", version=version, path=python)
    return [Result(OK, "python", found, None, needed)]


def check_venv(probe: Probe, opts: Options) -> list[Result]:
    needed = frozenset(p for p in opts.paths if p == "run")
    venv = probe.root / ".venv"
    if not probe.exists(venv):
        return [
            Result(
                OK,
                "venv",
                M.of("not created yet: make run creates it (about 1.3 GB)"),
                None,
                needed,
            )
        ]
    ran = probe.run(
        [str(venv / "bin" / "python"), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"]
    )
    version = ran.out.strip()
    fix = M.of("rm -rf .venv, then make run (it creates it again with Python 3.11)")
    if ran.code != 0 or not version:
        detail = (ran.err.strip().splitlines() or ["no output"])[-1]
        found = M.of("{path} does not run: {error}", path=".venv/bin/python", error=detail)
        return [Result(PROBLEM, "venv", found, fix, needed)]
    if not version.startswith("3.11."):
        return [
            Result(
                PROBLEM,
                "venv",
                M.of(".venv uses Python {version}, not 3.11", version=version),
                fix,
                needed,
            )
        ]
    if probe.exists(venv / ".run-installed"):
        return [
            Result(
                OK,
                "venv",
                M.of(".venv: Python {version}, packages installed", version=version),
                None,
                needed,
            )
        ]
    found = M.of(".venv: Python {version}; make run installs the packages", version=version)
    return [Result(OK, "venv", found, None, needed)]
