"""The Docker engine and Compose v2."""

from __future__ import annotations

import re
from dataclasses import dataclass

from taller_mlflow.local.doctor.common import (
    COMPOSE_MIN,
    OK,
    PROBLEM,
    TIMEOUT,
    M,
    Options,
    Result,
)
from taller_mlflow.local.doctor.machine import (
    Probe,
    Ran,
)


def is_wsl(probe: Probe) -> bool:
    return "microsoft" in (probe.read("/proc/version") or "").lower()


DOCKER_INFO = "{{.ServerVersion}}|{{.DockerRootDir}}|{{.MemTotal}}|{{.OperatingSystem}}"


@dataclass
class Engine:
    """What `docker info` said; version is empty when the engine did not answer."""

    version: str = ""
    root: str = ""
    mem_total: int = 0
    os_name: str = ""
    ran: Ran | None = None


def docker_info(probe: Probe, opts: Options) -> Engine:
    ran = probe.run([opts.docker, "info", "--format", DOCKER_INFO])
    parts = (ran.out.strip().splitlines() or [""])[0].split("|")
    if ran.code != 0 or len(parts) < 4 or not parts[0]:
        return Engine(ran=ran)
    mem = int(parts[2]) if parts[2].isdigit() else 0
    return Engine(parts[0], parts[1], mem, parts[3], ran)


def check_docker(probe: Probe, opts: Options, engine: Engine) -> list[Result]:
    needed = frozenset(p for p in opts.paths if p in ("up", "unit"))
    if engine.version:
        found = M.of(
            "Docker engine {version} reachable ({os})", version=engine.version, os=engine.os_name
        )
        return [Result(OK, "docker", found, None, needed)]
    ran = engine.ran or Ran(127)
    detail = " ".join((ran.err.strip() or ran.out.strip()).split())
    if ran.code == 127:
        fix = M.of(
            "install Docker Engine with the Compose plugin (Linux: "
            "https://docs.docker.com/engine/install/; macOS and Windows: Docker Desktop)"
        )
        return [Result(PROBLEM, "docker", M.of("docker is not installed"), fix, needed)]
    if ran.code == 124:
        found = M.of(
            "{command} did not answer within {seconds:.0f} s",
            command="docker info",
            seconds=TIMEOUT,
        )
        fix = M.of(
            "restart the Docker engine (sudo systemctl restart docker, or restart Docker Desktop)"
        )
        return [Result(PROBLEM, "docker", found, fix, needed)]
    if "permission denied" in detail.lower():
        found = M.of("permission denied on the Docker socket: {detail}", detail=detail)
        fix = M.of(
            "sudo usermod -aG docker $USER, then log out and back in (or run: newgrp docker)"
        )
        return [Result(PROBLEM, "docker", found, fix, needed)]
    found = M.of("the Docker engine does not answer: {detail}", detail=detail)
    system = probe.system()[0]
    if system == "Darwin":
        fix = M.of("start Docker Desktop and wait until it says it is running")
    elif is_wsl(probe):
        fix = M.of(
            "start Docker Desktop on Windows and turn on Settings > Resources > WSL integration for "
            "this distribution (or: sudo service docker start, with Docker installed inside WSL)"
        )
    else:
        fix = M.of("sudo systemctl start docker")
    return [Result(PROBLEM, "docker", found, fix, needed)]


VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


def compose_version(probe: Probe, opts: Options) -> tuple[tuple[int, int, int] | None, Ran]:
    ran = probe.run([*opts.compose, "version", "--short"])
    match = VERSION.search(ran.out) if ran.code == 0 else None
    if not match:
        return None, ran
    return (int(match[1]), int(match[2]), int(match[3] or 0)), ran


def check_compose(probe: Probe, opts: Options, found_version) -> list[Result]:
    needed = frozenset(p for p in opts.paths if p in ("up", "unit"))
    version, ran = found_version
    command = " ".join(opts.compose)
    if version is None:
        detail = " ".join((ran.err.strip() or ran.out.strip() or "no output").split())
        found = M.of(
            "Compose v2 is not installed ({command} version: {detail})",
            command=command,
            detail=detail,
        )
        fix = M.of(
            "sudo apt-get install docker-compose-plugin (Docker Desktop includes it); "
            "docker-compose 1.x cannot read these files"
        )
        return [Result(PROBLEM, "compose", found, fix, needed)]
    shown = ".".join(map(str, version))
    if version < COMPOSE_MIN:
        found = M.of(
            "Compose {version}: docker-compose.yaml uses include:, which needs Compose 2.20.3 or "
            "later",
            version=shown,
        )
        fix = M.of(
            "update Docker's Compose plugin: sudo apt-get install docker-compose-plugin (or update "
            "Docker Desktop)"
        )
        return [Result(PROBLEM, "compose", found, fix, needed)]
    return [Result(OK, "compose", M.of("Compose {version}", version=shown), None, needed)]
