"""`make up`'s check before it touches Docker: is every host port the stack publishes free, and is
MLflow closed to whoever its port reaches?

    python3 taller_mlflow/local/preflight.py [compose command...]     (docker.mk runs it; stdlib only)

It reads the published ports from `docker compose config` (which resolves .env, the environment
and the defaults without asking the engine), tries to bind each one as Docker would, and for each
busy one prints a line naming the .env variable that moves it, e.g.

    make up: port 3306 (127.0.0.1) is in use by another program: set MYSQL_HOST_PORT in .env
    to a free port, e.g. MYSQL_HOST_PORT=13306

then exits 1. Ports that this project's own running containers publish are not busy: `make up`
on a running stack just updates it.

MLflow published beyond loopback (CLASSROOM_BIND or MLFLOW_BIND other than 127.0.0.1) without
its basic auth is refused in one line, exit 1: anyone on that network could register a model,
move @production, delete runs or write artifacts through its proxy. (start_mlflow.sh refuses the
same inside the container; this says so before anything is built.)
"""

import errno
import json
import re
import socket
import subprocess
import sys
from pathlib import Path

PORT_VAR = re.compile(r"\$\{(\w+_HOST_PORT)(?::-[^}]*)?\}:(\d+)")


def port_variables(folder: Path = Path(".")) -> dict[int, str]:
    """Container port → the variable that sets its host port, from the compose files' text."""
    found = {}
    for path in sorted(folder.glob("docker-compose*.yaml")):
        for var, target in PORT_VAR.findall(path.read_text()):
            found[int(target)] = var
    return found


def published(model: dict) -> list[tuple[str, str, int, int]]:
    """(service, host ip, host port, container port) of every published port in a config."""
    rows = []
    for name, service in sorted(model.get("services", {}).items()):
        for port in service.get("ports", []):
            if port.get("published"):
                host_ip = port.get("host_ip") or "0.0.0.0"
                rows.append((name, host_ip, int(port["published"]), int(port["target"])))
    return rows


LOOPBACK = ("127.", "localhost", "::1", "[::1]")


def exposure_lines(model: dict) -> list[str]:
    """MLflow published beyond loopback while its auth is off (its compose environment says)."""
    mlflow = model.get("services", {}).get("mlflow", {})
    auth = str((mlflow.get("environment") or {}).get("MLFLOW_AUTH", "true")).lower()
    if auth in ("1", "true", "yes"):
        return []
    return [
        f"make up: MLflow would be published on {host_ip}:{port} without authentication "
        f"(MLFLOW_AUTH={auth}): set MLFLOW_AUTH=true in .env, or CLASSROOM_BIND=127.0.0.1"
        for service, host_ip, port, _ in published(model)
        if service == "mlflow" and not host_ip.startswith(LOOPBACK)
    ]


def in_use(host_ip: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host_ip, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def suggest(host_ip: str, port: int) -> int:
    """A free port to propose: port + 10000 (13306 for 3306, as the stack test uses), else any."""
    for candidate in (port + 10000, port + 20000):
        if candidate < 65536 and not in_use(host_ip, candidate):
            return candidate
    with socket.socket() as s:
        s.bind((host_ip, 0))
        return s.getsockname()[1]


def busy_lines(rows, variables: dict[int, str], ours: set[int], is_busy=in_use) -> list[str]:
    lines = []
    for service, host_ip, port, target in rows:
        if port in ours or not is_busy(host_ip, port):
            continue
        var = variables.get(target, f"the {service} port variable")
        lines.append(
            f"make up: port {port} ({host_ip}) for {service} is in use by another program: "
            f"set {var} in .env to a free port, e.g. {var}={suggest(host_ip, port)}"
        )
    return lines


def run_json(cmd: list[str]) -> object:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr.strip()}")
    text = out.stdout.strip()
    if not text:
        return []
    try:
        return json.loads(text)
    except json.JSONDecodeError:  # `ps --format json`: one object per line (Compose ≥ 2.21)
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def own_ports(compose: list[str]) -> set[int]:
    """Host ports this compose project's running containers already publish (none known when
    the engine cannot be asked: then every busy port is reported)."""
    try:
        rows = run_json([*compose, "ps", "--format", "json"])
    except (RuntimeError, OSError, ValueError):
        return set()
    rows = rows if isinstance(rows, list) else [rows]
    return {
        int(p["PublishedPort"])
        for row in rows
        for p in row.get("Publishers") or []
        if p.get("PublishedPort")
    }


def main(argv: list[str]) -> int:
    compose = argv or ["docker", "compose"]
    try:
        model = run_json([*compose, "config", "--format", "json"])
        exposed = exposure_lines(model)
        if exposed:
            print(exposed[0], file=sys.stderr)
            return 1
        rows = published(model)
        lines = busy_lines(rows, port_variables(), ours=set())
        if lines:  # only then ask the engine which of them are this stack's own
            lines = busy_lines(rows, port_variables(), ours=own_ports(compose))
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"make up: cannot check the host ports: {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(line, file=sys.stderr)
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
