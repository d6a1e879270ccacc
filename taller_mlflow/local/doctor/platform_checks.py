"""systemd for the unit path, and the known limits of WSL and macOS."""

from __future__ import annotations

import re

from taller_mlflow.local.doctor.common import (
    OK,
    PROBLEM,
    WARN,
    M,
    Options,
    Result,
)
from taller_mlflow.local.doctor.engine import (
    is_wsl,
)
from taller_mlflow.local.doctor.machine import (
    Probe,
)


def check_systemd(probe: Probe, opts: Options) -> list[Result]:
    needed = frozenset(p for p in opts.paths if p == "unit")
    system = probe.system()[0]
    comm = (probe.read("/proc/1/comm") or "").strip()
    version = ""
    if system == "Linux" and probe.which("systemctl"):
        first = (probe.run(["systemctl", "--version"], 3).out.strip().splitlines() or [""])[0]
        match = re.match(r"systemd (\d+)", first)
        version = match[1] if match else ""
    if comm == "systemd" and version:
        found = M.of(
            "systemd {version} is PID 1: the unit path (mlflow_serv.service) works here",
            version=version,
        )
        return [Result(OK, "systemd", found, None, needed)]
    if system == "Darwin":
        reason = M.of("macOS has launchd")
    elif not version:
        reason = M.of("no systemctl")
    else:
        reason = M.of("PID 1 is {comm}, not systemd", comm=comm or "?")
    found = M.of("not available here: the unit path needs systemd ({reason})", reason=reason)
    if is_wsl(probe):
        fix = M.of(
            "WSL: add [boot] systemd=true to /etc/wsl.conf, run wsl.exe --shutdown in Windows, reopen the distribution"
        )
    else:
        fix = M.of(
            "run MLflow as a container instead: docker compose -f docker-compose-mlflow.yaml up -d --build (or make run)"
        )
    return [Result(PROBLEM if "unit" in opts.paths else WARN, "systemd", found, fix, needed)]


def windows_results(system: str, needed: frozenset) -> list[Result]:
    found = M.of(
        "{system}: run the workshop inside WSL 2 (Ubuntu), not in Windows itself", system=system
    )
    fix = M.of("wsl --install, then clone the repository inside WSL")
    return [Result(PROBLEM, "platform", found, fix, needed)]


def wsl_results(probe: Probe, opts: Options, needed: frozenset) -> list[Result]:
    version = (probe.read("/proc/version") or "").lower()
    if "wsl2" not in version and "microsoft-standard" not in version:
        severity = PROBLEM if {"up", "unit"} & set(opts.paths) else WARN
        fix = M.of("in PowerShell: wsl --set-version <distribution> 2")
        found = M.of("WSL 1: Docker and systemd need WSL 2")
        results = [Result(severity, "platform", found, fix, needed)]
    else:
        found = M.of(
            "WSL 2: Windows reaches these servers at http://localhost:PORT only while "
            "localhostForwarding is on (the default); from other machines they need a port "
            "proxy (docs/troubleshooting.md)"
        )
        results = [Result(WARN, "platform", found, None, needed)]
    if str(probe.root).startswith("/mnt/"):
        found = M.of(
            "the checkout is on a Windows drive ({where}): slow files, odd permissions",
            where=str(probe.root),
        )
        fix = M.of("clone it inside WSL instead, e.g. under ~/")
        results.append(Result(WARN, "platform", found, fix, needed))
    return results


def macos_results(opts: Options, needed: frozenset) -> list[Result]:
    """Only make run meets macOS's limits: AirPlay on port 5000, no parent-death signal."""
    if "run" not in opts.paths:
        return []
    fix = M.of(
        'System Settings > General > AirDrop & Handoff > AirPlay Receiver off, or make run RUN_ARGS="--mlflow-port 5001"'
    )
    airplay = M.of("macOS: AirPlay Receiver listens on port 5000")
    no_pdeathsig = M.of(
        "macOS: Linux's parent-death signal is missing; make run's watchdog still stops its servers"
    )
    return [
        Result(WARN, "platform", airplay, fix, needed),
        Result(WARN, "platform", no_pdeathsig, None, needed),
    ]


def check_platform(probe: Probe, opts: Options) -> list[Result]:
    needed = frozenset(opts.paths)
    system, release, machine = probe.system()
    if system == "Windows" or system.startswith(("CYGWIN", "MSYS", "MINGW")):
        return windows_results(system, needed)
    if is_wsl(probe):
        return wsl_results(probe, opts, needed)
    if system == "Darwin" and (results := macos_results(opts, needed)):
        return results
    found = M.of("{system} {release} ({machine})", system=system, release=release, machine=machine)
    return [Result(OK, "platform", found, None, needed)]
