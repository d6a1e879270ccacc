"""`make doctor`: can this machine take the workshop's path, and if not, what to do about it.

    python3 -m taller_mlflow.local.doctor [--for run|up|unit|all ...] [--quiet] [make run's flags]
    make doctor [FOR=run|up|unit|all]            (default: run and up)

The paths:
    run   `make run`: Python 3.11 with venv, ports 5000, 8989, 8888 on 127.0.0.1 (or the ones
          given with --mlflow-port, --api-port, --jupyter-port), disk for .venv, memory
    up    `make up`: a reachable Docker engine, Compose 2.20.3 or later (docker-compose.yaml uses
          `include:`), the host ports the compose files publish (preflight.py's logic), disk for
          the images, memory
    unit  MLflow on the host as mlflow_serv.service: systemd as PID 1, Python 3.11, Docker and
          Compose for PostgreSQL and MinIO, port 5000

One line per check: its severity, its name, what it found and, when something is wrong, the fix.
    ok       nothing to do
    warn     works, with a limit worth knowing (WSL, macOS, little disk or memory), or a tool that
             only a path you did not choose needs is missing here (systemd while checking run or
             up: "not available here: the unit path needs systemd"); never changes the exit code
    problem  the chosen path fails on this machine as it is; the line says how to fix it; exit 1
--quiet (what `make run` and `make up` use) prints only the warnings and problems of the checks
the chosen path needs, then one line.

It changes nothing: it binds each port for an instant (as preflight.py does), reads /proc, and
asks python, docker, ss, systemctl and sysctl for versions. Every command has a timeout and the
checks run side by side, so it answers within 10 s even when the Docker engine hangs. Standard
library only: it runs before .venv exists. LANG=es* speaks Spanish; anything else, English.

The modules, one job each: common (paths, thresholds, messages, results, options), spanish (the
translations), machine (every question to the machine), python_env, engine (Docker and Compose),
ports, resources (disk and memory), platform_checks (systemd, WSL, macOS) and cli (run them all,
print, exit code).
"""

from taller_mlflow.local.doctor.cli import ORDER, diagnose, main, parse_args, printable, render
from taller_mlflow.local.doctor.common import (
    OK,
    PATHS,
    PROBLEM,
    TIMEOUT,
    WARN,
    M,
    Options,
    Result,
    language,
)
from taller_mlflow.local.doctor.engine import (
    Engine,
    check_compose,
    check_docker,
    compose_version,
    docker_info,
)
from taller_mlflow.local.doctor.machine import Probe, Ran, listening_inodes, parse_lsof, parse_ss
from taller_mlflow.local.doctor.platform_checks import check_platform, check_systemd
from taller_mlflow.local.doctor.ports import check_run_ports, check_unit_port, check_up_ports
from taller_mlflow.local.doctor.python_env import check_python, check_venv
from taller_mlflow.local.doctor.resources import check_disk, check_memory, mem_available
from taller_mlflow.local.doctor.spanish import ES

__all__ = [
    "ES",
    "OK",
    "ORDER",
    "PATHS",
    "PROBLEM",
    "TIMEOUT",
    "WARN",
    "Engine",
    "M",
    "Options",
    "Probe",
    "Ran",
    "Result",
    "check_compose",
    "check_disk",
    "check_docker",
    "check_memory",
    "check_platform",
    "check_python",
    "check_run_ports",
    "check_systemd",
    "check_unit_port",
    "check_up_ports",
    "check_venv",
    "compose_version",
    "diagnose",
    "docker_info",
    "language",
    "listening_inodes",
    "main",
    "mem_available",
    "parse_args",
    "parse_lsof",
    "parse_ss",
    "printable",
    "render",
]
