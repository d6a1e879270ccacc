"""`make test`'s databases: MariaDB/MySQL and PostgreSQL where the test settings point.

    python -m tests.support.host_services -- python -m pytest ...     (the Makefile's `test`)

The host's servers are used when they answer (.ci/run starts them; they are faster). When one
does not, it is started from the project's own compose file (docker-compose-mysql.yaml,
docker-compose-postgresql.yaml, with compose.test-services.yaml beside this module giving the
tests' trust logins) on exactly the configured port, under a compose project of its own, and
removed with its volume once the command has finished. Images: MYSQL_IMAGE / POSTGRES_IMAGE
when set (the stand-ins), else the compose files' official ones. Without a Docker engine it says
in one line what to install and still runs the command, whose service tests then fail: nothing
is skipped.
"""

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from taller_mlflow.local.servers import ROOT
from tests.support.mysql import MYSQL_HOST, MYSQL_PORT
from tests.support.services import PG_DSN

OVERRIDE = Path(__file__).with_name("compose.test-services.yaml")
UP_TIMEOUT = 900  # seconds: a first pull or initialisation on a slow machine


@dataclass(frozen=True)
class Needed:
    service: str  # compose service name
    label: str
    host: str
    port: int
    compose_file: str
    port_var: str


def pg_address(dsn: str = PG_DSN) -> tuple[str, int]:
    fields = dict(re.findall(r"(\w+)=(\S+)", dsn))
    return fields.get("host", "127.0.0.1"), int(fields.get("port", "5432"))


def wanted() -> list[Needed]:
    pg_host, pg_port = pg_address()
    return [
        Needed("mysql", "MariaDB/MySQL", MYSQL_HOST, MYSQL_PORT, "docker-compose-mysql.yaml",
               "MYSQL_HOST_PORT"),
        Needed("postgres", "PostgreSQL", pg_host, pg_port, "docker-compose-postgresql.yaml",
               "POSTGRES_HOST_PORT"),
    ]  # fmt: skip


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


def engine_problem() -> str | None:
    if not shutil.which("docker"):
        return "no docker command: install Docker (Debian: apt-get install docker.io)"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        return "no Docker engine answers: install and start Docker (apt-get install docker.io)"
    compose = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=60)
    if compose.returncode != 0:
        return "no Compose v2: install docker-compose-plugin"
    return None


class ComposeServices:
    """The missing services from the project's compose files, on the configured ports."""

    def __init__(self, needed: list[Needed]):
        self.needed = needed
        self.project = f"taller-test-services-{os.getpid()}-{secrets.token_hex(3)}"
        self.env_file = Path(tempfile.mkdtemp(prefix="taller-test-services-")) / "test.env"
        settings = {
            "MYSQL_ROOT_PASSWORD": "unused-root-has-no-password",
            "MYSQL_PASSWORD": secrets.token_hex(8),
            "POSTGRES_PASSWORD": secrets.token_hex(8),
            "MONITORING_DB_PASSWORD": secrets.token_hex(8),  # postgres-init's monitoring login
            "NETWORK_NAME": f"{self.project}_net",
            "MYSQL_CONTAINER_NAME": f"{self.project}_mysql",
            "POSTGRES_CONTAINER_NAME": f"{self.project}_postgres",
            **{n.port_var: str(n.port) for n in needed},
        }
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        files = [arg for n in self.needed for arg in ("-f", str(ROOT / n.compose_file))]
        cmd = ["docker", "compose", "-p", self.project, "--env-file", str(self.env_file)]
        cmd += [*files, "-f", str(OVERRIDE), *args]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)

    def up(self) -> None:
        services = [n.service for n in self.needed]
        out = self.compose("up", "-d", "--wait", *services, timeout=UP_TIMEOUT)
        if out.returncode != 0:
            self.down()
            raise RuntimeError(f"docker compose up {' '.join(services)} failed:\n{out.stderr}")

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans")
        shutil.rmtree(self.env_file.parent, ignore_errors=True)


def say(text: str) -> None:
    print(f"make test: {text}", file=sys.stderr, flush=True)


def run_with_services(command: list[str]) -> int:
    missing = [n for n in wanted() if not reachable(n.host, n.port)]
    if not missing:
        return subprocess.call(command)
    names = " and ".join(f"{n.label} ({n.host}:{n.port})" for n in missing)
    problem = engine_problem()
    if problem:
        say(f"{names} not reachable, and {problem}; the tests that need them will fail")
        return subprocess.call(command)
    say(f"{names} not reachable: starting them from the compose files for this run")
    services = ComposeServices(missing)
    try:
        services.up()
        return subprocess.call(command)
    finally:
        services.down()
        say(f"stopped and removed {names} (compose project {services.project})")


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print("usage: python -m tests.support.host_services -- COMMAND...", file=sys.stderr)
        return 2
    return run_with_services(argv[argv.index("--") + 1 :])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
