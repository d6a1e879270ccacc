"""`make doctor`: can this machine take the workshop's path, and if not, what to do about it.

    python3 taller_mlflow/local/doctor.py [--for run|up|unit|all ...] [--quiet] [make run's flags]
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
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

try:
    from taller_mlflow.local import preflight
except ImportError:  # `python3 taller_mlflow/local/doctor.py`: this folder is sys.path[0]
    import preflight  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[2]
PATHS = ("run", "up", "unit")
DEFAULT_PATHS = ("run", "up")
OK, WARN, PROBLEM = "ok", "warn", "problem"
GIB = 1024**3

# Thresholds, measured here (2 cores, Debian 12) and rounded up:
# - make run's .venv (api, train, notebook extras, pinned) is 1.26 GB; pip's downloads add ~0.3 GB,
#   and a run's data (.run/) is a few MB. Once .venv exists, little more is needed.
# - make up builds five images (1.7 GB together, shared layers counted once) and pulls MySQL,
#   PostgreSQL, MinIO and Prometheus (~1.7 GB): ~3.4 GB, plus build cache and volumes.
# - make run's process tree (MLflow, training the 27 combinations, the API, JupyterLab, the drift
#   job) peaked at 1.04 GiB PSS (1.5 GiB RSS); the notebook's kernel training again adds ~0.5 GiB.
#   The stack adds MySQL, PostgreSQL, MinIO, Prometheus and a second MLflow worker (~1 GiB more).
#   Its Dask scheduler and two workers held 0.95 GiB RSS after fitting the grid (2026-12-03);
#   UP_MEMORY below predates them and was not re-measured for the whole stack.
RUN_DISK_NEW = 2 * GIB  # no .venv yet: the venv and pip's downloads
RUN_DISK_EXISTING = GIB // 2
UP_DISK = 4 * GIB
DISK_MARGIN = 2 * GIB  # below need + margin: a warning
RUN_MEMORY, RUN_MEMORY_WARN = GIB, 2 * GIB
UP_MEMORY, UP_MEMORY_WARN = 2 * GIB, 4 * GIB
COMPOSE_MIN = (2, 20, 3)  # `include:` (docker-compose.yaml), per Docker's docs
PYTHON_WANTED = (3, 11)
RUN_PORTS = (("mlflow", "MLflow", "--mlflow-port"), ("api", "API", "--api-port"))
JUPYTER_PORT = ("jupyter", "JupyterLab", "--jupyter-port")
UNIT_PORT = 5000
TIMEOUT = 5.0  # seconds, for any one command

# Spanish for every English template below (tests/unit/test_doctor.py checks none is missing).
ES = {
    "ok": "ok",
    "warn": "aviso",
    "problem": "problema",
    "python": "python",
    "venv": "venv",
    "docker": "docker",
    "compose": "compose",
    "ports": "puertos",
    "disk": "disco",
    "memory": "memoria",
    "systemd": "systemd",
    "platform": "plataforma",
    "make doctor for {paths}: {system}": "make doctor para {paths}: {system}",
    "{problems} problem(s), {warnings} warning(s) in {seconds:.1f} s": (
        "{problems} problema(s), {warnings} aviso(s) en {seconds:.1f} s"
    ),
    "ready for {paths} ({seconds:.1f} s; details: make doctor FOR={first})": (
        "listo para {paths} ({seconds:.1f} s; detalles: make doctor FOR={first})"
    ),
    "fix": "arreglo",
    # python and venv
    "Python {version} ({path}) with venv and ensurepip": (
        "Python {version} ({path}) con venv y ensurepip"
    ),
    "no Python 3 found (python3.11, python3)": "no se encontró Python 3 (python3.11, python3)",
    "Python {version} ({path}): {path_kind} needs Python 3.11": (
        "Python {version} ({path}): {path_kind} necesita Python 3.11"
    ),
    "Python {version} ({path}) has no working venv/ensurepip": (
        "Python {version} ({path}) no tiene venv/ensurepip funcionando"
    ),
    "{path} does not run: {error}": "{path} no arranca: {error}",
    "install Python 3.11: sudo apt-get install python3.11 python3.11-venv (macOS: brew install "
    "python@3.11; Windows: inside WSL)": (
        "instala Python 3.11: sudo apt-get install python3.11 python3.11-venv (macOS: brew install "
        "python@3.11; Windows: dentro de WSL)"
    ),
    "sudo apt-get install python3.11-venv": "sudo apt-get install python3.11-venv",
    "not created yet: make run creates it (about 1.3 GB)": (
        "aún no existe: make run la crea (unos 1,3 GB)"
    ),
    ".venv: Python {version}, packages installed": ".venv: Python {version}, paquetes instalados",
    ".venv: Python {version}; make run installs the packages": (
        ".venv: Python {version}; make run instala los paquetes"
    ),
    ".venv uses Python {version}, not 3.11": ".venv usa Python {version}, no 3.11",
    "rm -rf .venv, then make run (it creates it again with Python 3.11)": (
        "rm -rf .venv y luego make run (la vuelve a crear con Python 3.11)"
    ),
    # docker and compose
    "Docker engine {version} reachable ({os})": "motor Docker {version} accesible ({os})",
    "docker is not installed": "docker no está instalado",
    "install Docker Engine with the Compose plugin (Linux: https://docs.docker.com/engine/install/;"
    " macOS and Windows: Docker Desktop)": (
        "instala Docker Engine con el plugin Compose (Linux: "
        "https://docs.docker.com/engine/install/; macOS y Windows: Docker Desktop)"
    ),
    "permission denied on the Docker socket: {detail}": (
        "permiso denegado en el socket de Docker: {detail}"
    ),
    "sudo usermod -aG docker $USER, then log out and back in (or run: newgrp docker)": (
        "sudo usermod -aG docker $USER, luego cierra la sesión y vuelve a entrar (o ejecuta: "
        "newgrp docker)"
    ),
    "the Docker engine does not answer: {detail}": "el motor Docker no responde: {detail}",
    "sudo systemctl start docker": "sudo systemctl start docker",
    "start Docker Desktop and wait until it says it is running": (
        "abre Docker Desktop y espera a que diga que está en marcha"
    ),
    "start Docker Desktop on Windows and turn on Settings > Resources > WSL integration for this "
    "distribution (or: sudo service docker start, with Docker installed inside WSL)": (
        "abre Docker Desktop en Windows y activa Settings > Resources > WSL integration para esta "
        "distribución (o: sudo service docker start, con Docker instalado dentro de WSL)"
    ),
    "{command} did not answer within {seconds:.0f} s": "{command} no respondió en {seconds:.0f} s",
    "restart the Docker engine (sudo systemctl restart docker, or restart Docker Desktop)": (
        "reinicia el motor Docker (sudo systemctl restart docker, o reinicia Docker Desktop)"
    ),
    "Compose {version}": "Compose {version}",
    "Compose {version}: docker-compose.yaml uses include:, which needs Compose 2.20.3 or later": (
        "Compose {version}: docker-compose.yaml usa include:, que necesita Compose 2.20.3 o "
        "posterior"
    ),
    "update Docker's Compose plugin: sudo apt-get install docker-compose-plugin (or update Docker "
    "Desktop)": (
        "actualiza el plugin Compose de Docker: sudo apt-get install docker-compose-plugin (o "
        "actualiza Docker Desktop)"
    ),
    "Compose v2 is not installed ({command} version: {detail})": (
        "Compose v2 no está instalado ({command} version: {detail})"
    ),
    "sudo apt-get install docker-compose-plugin (Docker Desktop includes it); docker-compose 1.x "
    "cannot read these files": (
        "sudo apt-get install docker-compose-plugin (Docker Desktop lo incluye); docker-compose "
        "1.x no puede leer estos archivos"
    ),
    "not checked: {what} is missing (see above)": "sin comprobar: falta {what} (ver arriba)",
    # ports
    "{ports} free (make run)": "{ports} libres (make run)",
    "{ports} free (make up)": "{ports} libres (make up)",
    "{port} free (mlflow_serv.service)": "{port} libre (mlflow_serv.service)",
    "{ports} already published by this project's running stack (make up updates it)": (
        "{ports} ya publicados por el stack de este proyecto en marcha (make up lo actualiza)"
    ),
    "port {port} ({what}) is in use by {holder}": "el puerto {port} ({what}) está en uso por {holder}",
    "a process this user cannot see (sudo ss -ltnp 'sport = :{port}' names it)": (
        "un proceso que este usuario no ve (sudo ss -ltnp 'sport = :{port}' lo nombra)"
    ),
    "{name} (pid {pid})": "{name} (pid {pid})",
    "{holder}: a Docker container publishes it (docker ps)": (
        "{holder}: lo publica un contenedor Docker (docker ps)"
    ),
    'stop it, or move make run\'s {what}: make run RUN_ARGS="{flag} {free}"': (
        'detenlo, o mueve el {what} de make run: make run RUN_ARGS="{flag} {free}"'
    ),
    "stop it, or leave JupyterLab off: make run JUPYTER=0": (
        "detenlo, o deja JupyterLab apagado: make run JUPYTER=0"
    ),
    "stop it, or set {var} in .env to a free port, e.g. {var}={free}": (
        "detenlo, o pon {var} en .env con un puerto libre, p. ej. {var}={free}"
    ),
    "stop it, or set MLFLOW_PORT in the unit's .env (and the clients' MLFLOW_TRACKING_URI)": (
        "detenlo, o pon MLFLOW_PORT en el .env de la unidad (y MLFLOW_TRACKING_URI en los clientes)"
    ),
    "cannot read the compose files' ports: {detail}": (
        "no se pueden leer los puertos de los archivos compose: {detail}"
    ),
    "fix the error above in .env or the compose files (docker compose config shows it)": (
        "corrige el error de arriba en .env o en los archivos compose (docker compose config lo "
        "muestra)"
    ),
    # disk and memory
    "{free} free at {where}; {path_kind} needs about {need} ({why})": (
        "{free} libres en {where}; {path_kind} necesita unos {need} ({why})"
    ),
    ".venv and pip's downloads": ".venv y las descargas de pip",
    "the run's data": "los datos de la ejecución",
    "the images, ~3.4 GB": "las imágenes, ~3,4 GB",
    "free space there: docker system prune removes unused images and build cache": (
        "libera espacio: docker system prune borra imágenes sin uso y la caché de builds"
    ),
    "free space on that disk, or clone the repository onto a disk with more room": (
        "libera espacio en ese disco, o clona el repositorio en un disco con más sitio"
    ),
    "Docker's data root {where} is not visible here (Docker Desktop keeps it in its VM)": (
        "la raíz de datos de Docker {where} no se ve desde aquí (Docker Desktop la guarda en su VM)"
    ),
    "{free} available; {path_kind} uses about {need} at its peak": (
        "{free} disponibles; {path_kind} usa unos {need} en su pico"
    ),
    "the Docker engine has {total} in all; the stack uses about {need}": (
        "el motor Docker tiene {total} en total; el stack usa unos {need}"
    ),
    "close other programs (browser tabs, IDEs), or add memory": (
        "cierra otros programas (pestañas del navegador, IDEs), o añade memoria"
    ),
    "give Docker more memory: Docker Desktop > Settings > Resources (WSL: memory= in "
    "%UserProfile%\\.wslconfig)": (
        "dale más memoria a Docker: Docker Desktop > Settings > Resources (WSL: memory= en "
        "%UserProfile%\\.wslconfig)"
    ),
    "cannot tell how much memory is free here": "no se puede saber cuánta memoria hay libre aquí",
    # systemd
    "systemd {version} is PID 1: the unit path (mlflow_serv.service) works here": (
        "systemd {version} es el PID 1: la ruta de la unidad (mlflow_serv.service) funciona aquí"
    ),
    "not available here: the unit path needs systemd ({reason})": (
        "no disponible aquí: la ruta de la unidad necesita systemd ({reason})"
    ),
    "PID 1 is {comm}, not systemd": "el PID 1 es {comm}, no systemd",
    "no systemctl": "no hay systemctl",
    "macOS has launchd": "macOS usa launchd",
    "run MLflow as a container instead: docker compose -f docker-compose-mlflow.yaml up -d "
    "--build (or make run)": (
        "ejecuta MLflow como contenedor: docker compose -f docker-compose-mlflow.yaml up -d --build "
        "(o make run)"
    ),
    "WSL: add [boot] systemd=true to /etc/wsl.conf, run wsl.exe --shutdown in Windows, reopen "
    "the distribution": (
        "WSL: añade [boot] systemd=true a /etc/wsl.conf, ejecuta wsl.exe --shutdown en Windows y "
        "vuelve a abrir la distribución"
    ),
    # platform
    "{system} {release} ({machine})": "{system} {release} ({machine})",
    "WSL 1: Docker and systemd need WSL 2": "WSL 1: Docker y systemd necesitan WSL 2",
    "in PowerShell: wsl --set-version <distribution> 2": (
        "en PowerShell: wsl --set-version <distribución> 2"
    ),
    "WSL 2: Windows reaches these servers at http://localhost:PORT only while localhostForwarding"
    " is on (the default); from other machines they need a port proxy (docs/troubleshooting.md)": (
        "WSL 2: Windows llega a estos servidores en http://localhost:PUERTO solo mientras "
        "localhostForwarding esté activo (por defecto); desde otras máquinas hace falta un proxy "
        "de puertos (docs/es/problemas.md)"
    ),
    "the checkout is on a Windows drive ({where}): slow files, odd permissions": (
        "el repositorio está en una unidad de Windows ({where}): archivos lentos, permisos raros"
    ),
    "clone it inside WSL instead, e.g. under ~/": "clónalo dentro de WSL, p. ej. en ~/",
    "macOS: AirPlay Receiver listens on port 5000": "macOS: el Receptor AirPlay escucha en el puerto 5000",
    "System Settings > General > AirDrop & Handoff > AirPlay Receiver off, or make run "
    'RUN_ARGS="--mlflow-port 5001"': (
        "Ajustes del Sistema > General > AirDrop y Handoff > Receptor AirPlay apagado, o make run "
        'RUN_ARGS="--mlflow-port 5001"'
    ),
    "macOS: Linux's parent-death signal is missing; make run's watchdog still stops its servers": (
        "macOS: falta la señal de muerte del padre de Linux; el watchdog de make run igual detiene "
        "sus servidores"
    ),
    "{system}: run the workshop inside WSL 2 (Ubuntu), not in Windows itself": (
        "{system}: ejecuta el taller dentro de WSL 2 (Ubuntu), no en Windows directamente"
    ),
    "wsl --install, then clone the repository inside WSL": (
        "wsl --install y luego clona el repositorio dentro de WSL"
    ),
    "make run": "make run",
    "make up": "make up",
    "the unit path": "la ruta de la unidad",
}


# --- messages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class M:
    """A message: an English template and its values, rendered in the reader's language."""

    template: str
    values: tuple = ()

    @classmethod
    def of(cls, template: str, **values) -> M:
        return cls(template, tuple(sorted(values.items())))

    def render(self, lang: str) -> str:
        text = ES.get(self.template, self.template) if lang == "es" else self.template
        values = {k: v.render(lang) if isinstance(v, M) else v for k, v in self.values}
        return text.format(**values)


def language(env: dict) -> str:
    """'es' when LANG starts with es (es_CO.UTF-8, es_ES, es), else 'en'."""
    return "es" if env.get("LANG", "").lower().startswith("es") else "en"


@dataclass
class Result:
    severity: str
    name: str
    found: M
    fix: M | None = None
    needed_by: frozenset = field(default_factory=frozenset)  # paths that need this check


# --- what the checks ask the machine (tests pass a fake) -------------------------------------


@dataclass
class Ran:
    code: int  # 127: not found, 124: timed out
    out: str = ""
    err: str = ""


class Probe:
    """Every question the checks ask the machine, with a timeout; nothing here writes."""

    def __init__(self, root: Path = ROOT):
        self.root = root

    def run(self, cmd: list[str], timeout: float = TIMEOUT) -> Ran:
        try:
            out = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except FileNotFoundError:
            return Ran(127, "", f"{cmd[0]}: not found")
        except subprocess.TimeoutExpired:
            return Ran(124, "", f"no answer within {timeout:.0f} s")
        except OSError as exc:
            return Ran(126, "", str(exc))
        return Ran(out.returncode, out.stdout, out.stderr)

    def which(self, name: str) -> str | None:
        return shutil.which(name)

    def read(self, path: str | Path) -> str | None:
        try:
            return Path(path).read_text(errors="replace")
        except OSError:
            return None

    def exists(self, path: str | Path) -> bool:
        return Path(path).exists()

    def port_busy(self, host: str, port: int) -> bool:
        return preflight.in_use(host, port)

    def port_variables(self) -> dict[int, str]:
        """Container port -> the .env variable that sets its host port (the compose files)."""
        return preflight.port_variables(self.root)

    def disk_free(self, path: str | Path) -> int | None:
        try:
            return shutil.disk_usage(path).free
        except OSError:
            return None

    def system(self) -> tuple[str, str, str]:
        return platform.system(), platform.release(), platform.machine()

    def holders(self, port: int) -> list[tuple[str, int]]:
        """(command, pid) of the processes listening on TCP `port`, as far as this user can see."""
        if self.which("ss"):
            found = parse_ss(self.run(["ss", "-Hltnp", f"sport = :{port}"], 3).out)
            if found:
                return found
        found = self._proc_holders(port)
        if found or not self.which("lsof"):
            return found
        return parse_lsof(self.run(["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fpc"], 3).out)

    def _proc_holders(self, port: int) -> list[tuple[str, int]]:
        tables = [self.read(f"/proc/net/{name}") or "" for name in ("tcp", "tcp6")]
        inodes = listening_inodes(port, tables)
        if not inodes:
            return []
        wanted = {f"socket:[{inode}]" for inode in inodes}
        found = []
        for pid_dir in Path("/proc").iterdir():
            if not pid_dir.name.isdigit():
                continue
            try:
                links = {os.readlink(fd) for fd in (pid_dir / "fd").iterdir()}
            except OSError:
                continue  # gone, or another user's
            if links & wanted:
                comm = (self.read(pid_dir / "comm") or "?").strip()
                found.append((comm, int(pid_dir.name)))
        return found


SS_USER = re.compile(r'\("([^"]+)",pid=(\d+)')


def parse_ss(text: str) -> list[tuple[str, int]]:
    """The processes in `ss -Hltnp` output (users:(("python",pid=12,fd=3),...)), pid order."""
    found = {(name, int(pid)) for name, pid in SS_USER.findall(text)}
    return sorted(found, key=lambda item: item[1])


def parse_lsof(text: str) -> list[tuple[str, int]]:
    """`lsof -Fpc` output: a p<pid> line, then its c<command> line."""
    found, pid = [], None
    for line in text.splitlines():
        if line.startswith("p") and line[1:].isdigit():
            pid = int(line[1:])
        elif line.startswith("c") and pid is not None:
            found.append((line[1:], pid))
            pid = None
    return found


def listening_inodes(port: int, tables: list[str]) -> set[str]:
    """Socket inodes listening (state 0A) on `port` in /proc/net/tcp and tcp6."""
    inodes = set()
    for table in tables:
        for line in table.splitlines()[1:]:
            fields = line.split()
            listening = len(fields) > 9 and fields[3] == "0A"
            if listening and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


# --- the checks ------------------------------------------------------------------------------


@dataclass
class Options:
    paths: tuple[str, ...] = DEFAULT_PATHS
    python: str | None = None  # the interpreter make run creates .venv with
    docker: str = "docker"
    compose: tuple[str, ...] = ("docker", "compose")
    mlflow_port: int = 5000
    api_port: int = 8989
    jupyter_port: int = 8888
    no_jupyter: bool = False
    skip: frozenset = frozenset()


def path_kind(paths) -> M:
    """'make run', 'make up', 'the unit path', joined in PATHS order."""
    names = [
        M.of("the unit path") if p == "unit" else M.of(f"make {p}") for p in PATHS if p in paths
    ]
    if len(names) == 1:
        return names[0]
    return M.of(
        " / ".join(f"{{p{i}}}" for i in range(len(names))),
        **{f"p{i}": n for i, n in enumerate(names)},
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


def holder_text(probe: Probe, port: int) -> M:
    found = probe.holders(port)
    if not found:
        return M.of(
            "a process this user cannot see (sudo ss -ltnp 'sport = :{port}' names it)", port=port
        )
    shown = ", ".join(f"{name} (pid {pid})" for name, pid in found[:3])
    if any(
        name in ("docker-proxy", "com.docker.backend", "vpnkit", "rootlesskit") for name, _ in found
    ):
        return M.of("{holder}: a Docker container publishes it (docker ps)", holder=shown)
    return M.of("{text}", text=shown)


def a_free_port(probe: Probe, host: str, port: int) -> int:
    for candidate in range(port + 1, port + 20):
        if candidate < 65536 and not probe.port_busy(host, candidate):
            return candidate
    return preflight.suggest(host, port)


def check_run_ports(probe: Probe, opts: Options) -> list[Result]:
    needed = frozenset({"run"})
    wanted = [(opts.mlflow_port, *RUN_PORTS[0][1:]), (opts.api_port, *RUN_PORTS[1][1:])]
    if not opts.no_jupyter:
        wanted.append((opts.jupyter_port, *JUPYTER_PORT[1:]))
    results = []
    for port, what, flag in wanted:
        if not probe.port_busy("127.0.0.1", port):
            continue
        found = M.of(
            "port {port} ({what}) is in use by {holder}",
            port=port,
            what=f"make run, {what}",
            holder=holder_text(probe, port),
        )
        if flag == "--jupyter-port":
            fix = M.of("stop it, or leave JupyterLab off: make run JUPYTER=0")
        else:
            free = a_free_port(probe, "127.0.0.1", port)
            fix = M.of(
                'stop it, or move make run\'s {what}: make run RUN_ARGS="{flag} {free}"',
                what=what,
                flag=flag,
                free=free,
            )
        results.append(Result(PROBLEM, "ports", found, fix, needed))
    if not results:
        shown = ", ".join(str(port) for port, _, _ in wanted)
        results.append(
            Result(OK, "ports", M.of("{ports} free (make run)", ports=shown), None, needed)
        )
    return results


def compose_config_args(probe: Probe, opts: Options) -> list[str]:
    """`make up` creates .env from .env.example; before it has, read the example (it is what
    .env will hold) so the compose files' required variables resolve."""
    if not probe.exists(probe.root / ".env") and probe.exists(probe.root / ".env.example"):
        return [*opts.compose, "--env-file", str(probe.root / ".env.example")]
    return list(opts.compose)


def published_ports(probe: Probe, opts: Options) -> tuple[list | None, str]:
    ran = probe.run([*compose_config_args(probe, opts), "config", "--format", "json"], 5)
    if ran.code != 0:
        return None, " ".join((ran.err.strip() or ran.out.strip() or "no output").split())
    try:
        return preflight.published(json.loads(ran.out)), ""
    except ValueError as exc:
        return None, str(exc)


def own_ports(probe: Probe, opts: Options) -> set[int]:
    """Host ports this project's running containers publish (none when the engine cannot say).
    Compose prints a JSON array, or one JSON object per line (2.21 and later)."""
    ran = probe.run([*opts.compose, "ps", "--format", "json"], 3)
    text = ran.out.strip()
    if ran.code != 0 or not text:
        return set()
    try:
        rows = json.loads(text)
    except ValueError:
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            return set()
    rows = rows if isinstance(rows, list) else [rows]
    return {
        int(p["PublishedPort"])
        for row in rows
        for p in row.get("Publishers") or []
        if p.get("PublishedPort")
    }


def check_up_ports(probe: Probe, opts: Options, compose_ok: bool, published=None) -> list[Result]:
    needed = frozenset({"up"})
    if not compose_ok:
        return [
            Result(
                WARN,
                "ports",
                M.of("not checked: {what} is missing (see above)", what="Compose v2"),
                None,
                needed,
            )
        ]
    rows, error = published if published is not None else published_ports(probe, opts)
    if rows is None:
        found = M.of("cannot read the compose files' ports: {detail}", detail=error)
        fix = M.of(
            "fix the error above in .env or the compose files (docker compose config shows it)"
        )
        return [Result(PROBLEM, "ports", found, fix, needed)]
    busy = [row for row in rows if probe.port_busy(row[1], row[2])]
    ours = own_ports(probe, opts) if busy else set()
    variables = probe.port_variables()
    results = []
    for service, host_ip, port, target in busy:
        if port in ours:
            continue
        var = variables.get(target, f"the {service} port variable")
        found = M.of(
            "port {port} ({what}) is in use by {holder}",
            port=port,
            what=f"make up, {service}, {host_ip}",
            holder=holder_text(probe, port),
        )
        fix = M.of(
            "stop it, or set {var} in .env to a free port, e.g. {var}={free}",
            var=var,
            free=preflight.suggest(host_ip, port),
        )
        results.append(Result(PROBLEM, "ports", found, fix, needed))
    if results:
        return results
    shown = ", ".join(str(port) for port in sorted({row[2] for row in rows} - ours))
    if shown:
        results.append(
            Result(OK, "ports", M.of("{ports} free (make up)", ports=shown), None, needed)
        )
    if ours:
        mine = ", ".join(str(p) for p in sorted(ours))
        found = M.of(
            "{ports} already published by this project's running stack (make up updates it)",
            ports=mine,
        )
        results.append(Result(OK, "ports", found, None, needed))
    return results


def check_unit_port(probe: Probe, opts: Options) -> list[Result]:
    needed = frozenset({"unit"})
    if not probe.port_busy("127.0.0.1", UNIT_PORT):
        return [
            Result(
                OK, "ports", M.of("{port} free (mlflow_serv.service)", port=UNIT_PORT), None, needed
            )
        ]
    found = M.of(
        "port {port} ({what}) is in use by {holder}",
        port=UNIT_PORT,
        what="mlflow_serv.service",
        holder=holder_text(probe, UNIT_PORT),
    )
    fix = M.of(
        "stop it, or set MLFLOW_PORT in the unit's .env (and the clients' MLFLOW_TRACKING_URI)"
    )
    return [Result(PROBLEM, "ports", found, fix, needed)]


def size(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def check_disk(probe: Probe, opts: Options, engine: Engine) -> list[Result]:
    results = []
    if "run" in opts.paths or "unit" in opts.paths:
        needed = frozenset(p for p in opts.paths if p in ("run", "unit"))
        has_venv = probe.exists(probe.root / ".venv" / ".run-installed")
        need = RUN_DISK_EXISTING if has_venv else RUN_DISK_NEW
        why = M.of("the run's data") if has_venv else M.of(".venv and pip's downloads")
        free = probe.disk_free(probe.root)
        if free is not None:
            found = M.of(
                "{free} free at {where}; {path_kind} needs about {need} ({why})",
                free=size(free),
                where=str(probe.root),
                path_kind=path_kind(needed),
                need=size(need),
                why=why,
            )
            fix = M.of(
                "free space on that disk, or clone the repository onto a disk with more room"
            )
            results.append(grade(free, need, need + DISK_MARGIN, "disk", found, fix, needed))
    if "up" in opts.paths and engine.version:
        needed = frozenset({"up"})
        where = engine.root or "/var/lib/docker"
        free = probe.disk_free(where) if probe.exists(where) else None
        if free is None:
            found = M.of(
                "Docker's data root {where} is not visible here (Docker Desktop keeps it in its VM)",
                where=where,
            )
            results.append(Result(OK, "disk", found, None, needed))
        else:
            found = M.of(
                "{free} free at {where}; {path_kind} needs about {need} ({why})",
                free=size(free),
                where=where,
                path_kind=M.of("make up"),
                need=size(UP_DISK),
                why=M.of("the images, ~3.4 GB"),
            )
            fix = M.of(
                "free space there: docker system prune removes unused images and build cache"
            )
            results.append(
                grade(free, UP_DISK, UP_DISK + 2 * DISK_MARGIN, "disk", found, fix, needed)
            )
    return results


def grade(
    value: int, problem_below: int, warn_below: int, name: str, found: M, fix: M, needed
) -> Result:
    if value < problem_below:
        return Result(PROBLEM, name, found, fix, needed)
    if value < warn_below:
        return Result(WARN, name, found, fix, needed)
    return Result(OK, name, found, None, needed)


def mem_available(probe: Probe) -> int | None:
    """MemAvailable from /proc/meminfo (Linux, WSL), else the total (macOS: sysctl hw.memsize)."""
    text = probe.read("/proc/meminfo")
    if text:
        match = re.search(r"^MemAvailable:\s+(\d+) kB", text, re.MULTILINE)
        if match:
            return int(match[1]) * 1024
    if probe.system()[0] == "Darwin":
        ran = probe.run(["sysctl", "-n", "hw.memsize"], 2)
        if ran.code == 0 and ran.out.strip().isdigit():
            return int(ran.out.strip())
    return None


def check_memory(probe: Probe, opts: Options, engine: Engine) -> list[Result]:
    needed = frozenset(p for p in opts.paths if p in ("run", "up"))
    available = mem_available(probe)
    fix = M.of("close other programs (browser tabs, IDEs), or add memory")
    if available is None:
        return [
            Result(WARN, "memory", M.of("cannot tell how much memory is free here"), None, needed)
        ]
    results = []
    if "up" in opts.paths:
        need, warn = UP_MEMORY, UP_MEMORY_WARN
        kind = M.of("make up")
    else:
        need, warn = RUN_MEMORY, RUN_MEMORY_WARN
        kind = M.of("make run") if "run" in opts.paths else M.of("the unit path")
    found = M.of(
        "{free} available; {path_kind} uses about {need} at its peak",
        free=size(available),
        path_kind=kind,
        need=size(need + GIB // 2),
    )
    results.append(grade(available, need, warn, "memory", found, fix, needed))
    if "up" in opts.paths and engine.mem_total and engine.mem_total < UP_MEMORY_WARN:
        found = M.of(
            "the Docker engine has {total} in all; the stack uses about {need}",
            total=size(engine.mem_total),
            need=size(UP_MEMORY + GIB // 2),
        )
        fix = M.of(
            "give Docker more memory: Docker Desktop > Settings > Resources (WSL: memory= in %UserProfile%\\.wslconfig)"
        )
        results.append(
            grade(
                engine.mem_total,
                UP_MEMORY,
                UP_MEMORY_WARN,
                "memory",
                found,
                fix,
                frozenset({"up"}),
            )
        )
    return results


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


def check_platform(probe: Probe, opts: Options) -> list[Result]:
    needed = frozenset(opts.paths)
    system, release, machine = probe.system()
    results = []
    if system == "Windows" or system.startswith(("CYGWIN", "MSYS", "MINGW")):
        found = M.of(
            "{system}: run the workshop inside WSL 2 (Ubuntu), not in Windows itself", system=system
        )
        return [
            Result(
                PROBLEM,
                "platform",
                found,
                M.of("wsl --install, then clone the repository inside WSL"),
                needed,
            )
        ]
    if is_wsl(probe):
        version = (probe.read("/proc/version") or "").lower()
        if "wsl2" not in version and "microsoft-standard" not in version:
            severity = PROBLEM if {"up", "unit"} & set(opts.paths) else WARN
            fix = M.of("in PowerShell: wsl --set-version <distribution> 2")
            results.append(
                Result(
                    severity, "platform", M.of("WSL 1: Docker and systemd need WSL 2"), fix, needed
                )
            )
        else:
            found = M.of(
                "WSL 2: Windows reaches these servers at http://localhost:PORT only while "
                "localhostForwarding is on (the default); from other machines they need a port "
                "proxy (docs/troubleshooting.md)"
            )
            results.append(Result(WARN, "platform", found, None, needed))
        if str(probe.root).startswith("/mnt/"):
            found = M.of(
                "the checkout is on a Windows drive ({where}): slow files, odd permissions",
                where=str(probe.root),
            )
            results.append(
                Result(
                    WARN,
                    "platform",
                    found,
                    M.of("clone it inside WSL instead, e.g. under ~/"),
                    needed,
                )
            )
        return results
    if system == "Darwin":
        if "run" in opts.paths:
            fix = M.of(
                'System Settings > General > AirDrop & Handoff > AirPlay Receiver off, or make run RUN_ARGS="--mlflow-port 5001"'
            )
            results.append(
                Result(
                    WARN,
                    "platform",
                    M.of("macOS: AirPlay Receiver listens on port 5000"),
                    fix,
                    needed,
                )
            )
            found = M.of(
                "macOS: Linux's parent-death signal is missing; make run's watchdog still stops its servers"
            )
            results.append(Result(WARN, "platform", found, None, needed))
        return results or [
            Result(
                OK,
                "platform",
                M.of(
                    "{system} {release} ({machine})",
                    system=system,
                    release=release,
                    machine=machine,
                ),
                None,
                needed,
            )
        ]
    found = M.of("{system} {release} ({machine})", system=system, release=release, machine=machine)
    return [Result(OK, "platform", found, None, needed)]


# --- running them ----------------------------------------------------------------------------


ORDER = ("platform", "python", "venv", "docker", "compose", "ports", "disk", "memory", "systemd")


def diagnose(probe: Probe, opts: Options) -> list[Result]:
    """Every check the chosen paths call for, side by side (commands wait on Docker, ss, ...),
    in ORDER; nothing is skipped silently."""
    paths = set(opts.paths)
    wants_docker = bool(paths & {"up", "unit"})
    with ThreadPoolExecutor(max_workers=8) as pool:
        engine_f = pool.submit(docker_info, probe, opts) if wants_docker else None
        compose_f = pool.submit(compose_version, probe, opts) if wants_docker else None
        up_ports = "up" in paths and "ports" not in opts.skip
        # The compose files' ports do not wait for Compose's version: both at once, within 5 s.
        published_f = pool.submit(published_ports, probe, opts) if up_ports else None
        jobs = [pool.submit(check_platform, probe, opts)]
        if paths & {"run", "unit"}:
            jobs.append(pool.submit(check_python, probe, opts))
        if "run" in paths:
            jobs.append(pool.submit(check_venv, probe, opts))
        if "run" in paths and "ports" not in opts.skip:
            jobs.append(pool.submit(check_run_ports, probe, opts))
        if "unit" in paths and "ports" not in opts.skip:
            jobs.append(pool.submit(check_unit_port, probe, opts))
        jobs.append(pool.submit(check_systemd, probe, opts))
        engine = engine_f.result() if engine_f else Engine()
        if wants_docker:
            compose = compose_f.result()
            jobs.append(pool.submit(check_docker, probe, opts, engine))
            jobs.append(pool.submit(check_compose, probe, opts, compose))
            if up_ports:
                published = published_f.result()
                jobs.append(
                    pool.submit(check_up_ports, probe, opts, compose[0] is not None, published)
                )
        jobs.append(pool.submit(check_disk, probe, opts, engine))
        jobs.append(pool.submit(check_memory, probe, opts, engine))
        results = [r for job in jobs for r in job.result() if r.name not in opts.skip]
    return sorted(results, key=lambda r: ORDER.index(r.name))


LABEL_WIDTH = 9


def render(result: Result, lang: str) -> str:
    label = M.of(result.severity).render(lang)
    name = M.of(result.name).render(lang)
    line = f"  {label:<{LABEL_WIDTH}}{name:<11}{result.found.render(lang)}"
    if result.fix is not None and result.severity != OK:
        line += f" -> {M.of('fix').render(lang)}: {result.fix.render(lang)}"
    return line


def shown(results: list[Result], opts: Options, quiet: bool) -> list[Result]:
    """All results; with --quiet, only the warnings and problems of checks the chosen path needs."""
    if not quiet:
        return results
    return [r for r in results if r.severity != OK and (r.severity == PROBLEM or r.needed_by)]


def printable(text: str, stream) -> str:
    """Accents dropped where the terminal cannot show them (LANG=es_CO.UTF-8 with no such locale)."""
    try:
        text.encode(stream.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return text


def parse_args(argv: list[str] | None) -> tuple[Options, bool, str | None]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--for",
        dest="paths",
        action="append",
        default=[],
        metavar="PATH",
        help="run, up, unit or all (repeat, or separate with commas or spaces; default: run and up)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print only warnings and problems, then one line"
    )
    parser.add_argument(
        "--python",
        help="the interpreter make run creates .venv with (default: python3.11, else python3)",
    )
    parser.add_argument("--docker", default="docker", help="the docker command (default: docker)")
    parser.add_argument(
        "--compose", default="docker compose", help="the compose command (default: docker compose)"
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        help="a check to leave out (e.g. ports: make up leaves them to preflight.py)",
    )
    parser.add_argument("--lang", choices=["en", "es"], help="the language (default: from LANG)")
    # make run's own flags, so `make doctor RUN_ARGS=...` and `make run` check the same ports;
    # the rest of make run's flags (--quick, --stop-with-parent, ...) are ignored.
    parser.add_argument("--mlflow-port", type=int, default=5000)
    parser.add_argument("--api-port", type=int, default=8989)
    parser.add_argument("--jupyter-port", type=int, default=8888)
    parser.add_argument("--no-jupyter", action="store_true")
    args, _ = parser.parse_known_args(argv)
    chosen: list[str] = []
    for value in args.paths or [" ".join(DEFAULT_PATHS)]:
        for word in re.split(r"[,\s]+", value.strip()):
            if word == "all":
                chosen.extend(PATHS)
            elif word in PATHS:
                chosen.append(word)
            elif word:
                parser.error(f"--for {word}: choose run, up, unit or all")
    paths = tuple(p for p in PATHS if p in chosen) or DEFAULT_PATHS
    opts = Options(
        paths=paths,
        python=args.python or None,
        docker=args.docker,
        compose=tuple(shlex.split(args.compose)),
        mlflow_port=args.mlflow_port,
        api_port=args.api_port,
        jupyter_port=args.jupyter_port,
        no_jupyter=args.no_jupyter,
        skip=frozenset(args.skip),
    )
    return opts, args.quiet, args.lang


def main(argv: list[str] | None = None, probe: Probe | None = None, env=None, out=None) -> int:
    t0 = time.monotonic()
    opts, quiet, lang = parse_args(argv)
    lang = lang or language(os.environ if env is None else env)
    out = out or sys.stdout
    probe = probe or Probe()
    results = diagnose(probe, opts)
    problems = sum(r.severity == PROBLEM for r in results)
    listed = shown(results, opts, quiet)
    warnings = sum(r.severity == WARN for r in listed)
    elapsed = time.monotonic() - t0
    lines = []
    names = ", ".join(opts.paths)
    again = opts.paths[0] if len(opts.paths) == 1 else '"' + " ".join(opts.paths) + '"'
    if not quiet:
        system, release, machine = probe.system()
        head = M.of(
            "make doctor for {paths}: {system}", paths=names, system=f"{system} {release} {machine}"
        )
        lines.append(head.render(lang))
    lines += [render(r, lang) for r in listed]
    if quiet and not listed:
        summary = M.of(
            "ready for {paths} ({seconds:.1f} s; details: make doctor FOR={first})",
            paths=names,
            seconds=elapsed,
            first=again,
        )
        lines.append("doctor: " + summary.render(lang))
    else:
        summary = M.of(
            "{problems} problem(s), {warnings} warning(s) in {seconds:.1f} s",
            problems=problems,
            warnings=warnings,
            seconds=elapsed,
        )
        lines.append("doctor: " + summary.render(lang))
    for line in lines:
        print(printable(line, out), file=out)
    out.flush()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
