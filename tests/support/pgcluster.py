"""A private PostgreSQL cluster for tests that stop and restart their database server.

initdb into a fresh folder, trust auth, loopback only on a free port, its socket in its own data
folder: restarting it disturbs nobody else using the machine's shared cluster on :5432.
initdb and the server refuse to run as root, so as root they run as `postgres` through runuser.
"""

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from taller_mlflow.local.servers import free_port

USER = "postgres"
SERVER_TIMEOUT = 60  # seconds pg_ctl waits for a start or stop to complete


def server_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major_version)
    if not found:
        pytest.fail(
            "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: install postgresql"
        )
    return Path(found[-1]).parent


def _major_version(initdb: str) -> int:
    version = Path(initdb).parent.parent.name
    return int(version) if version.isdigit() else 0


def run_as_owner() -> list[str]:
    """The command prefix that runs PostgreSQL's tools as a user they accept."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if not runuser:
        pytest.fail("as root the private PostgreSQL needs runuser: apt-get install util-linux")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        pytest.fail(f"no `{USER}` user to run the private PostgreSQL as: install postgresql")
    return [runuser, "-u", USER, "--"]


@dataclass
class PrivateCluster:
    bindir: Path
    base: Path
    port: int
    prefix: list[str]

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def log_path(self) -> Path:
        return self.base / "server.log"

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres"

    @property
    def url_base(self) -> str:
        return f"postgresql+psycopg2://{USER}@127.0.0.1:{self.port}"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [*self.prefix, str(self.bindir / tool), *args]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=SERVER_TIMEOUT + 30)
        if out.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {out.stderr or out.stdout}")

    def initdb(self) -> None:
        self._run("initdb", "-D", str(self.datadir), "-U", USER, "-A", "trust", "--no-sync")
        settings = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.datadir}'",
            "fsync = off",  # a throw-away cluster: durability across OS crashes is not tested
        ]
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(settings) + "\n")

    def pg_ctl(self, action: str) -> None:
        """start, stop or restart, waiting until it is done; stop and restart use fast mode."""
        mode = [] if action == "start" else ["-m", "fast"]
        self._run(
            "pg_ctl",
            action,
            "-D",
            str(self.datadir),
            "-l",
            str(self.log_path),
            "-w",
            "-t",
            str(SERVER_TIMEOUT),
            *mode,
        )

    def is_running(self) -> bool:
        cmd = [*self.prefix, str(self.bindir / "pg_ctl"), "status", "-D", str(self.datadir)]
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0


@contextlib.contextmanager
def private_cluster(keep_log_in: Path):
    """A running private cluster; stopped and deleted afterwards, its server log copied to
    `keep_log_in`. Its folder is made under the system temp dir, not pytest's tmp_path, because
    pytest's folders are private to the user running the tests and the server runs as postgres."""
    prefix = run_as_owner()
    base = Path(tempfile.mkdtemp(prefix="taller-pg-"))
    if prefix:
        shutil.chown(base, user=USER)
    cluster = PrivateCluster(server_bindir(), base, free_port(), prefix)
    try:
        cluster.initdb()
        cluster.pg_ctl("start")
        yield cluster
    finally:
        if cluster.datadir.exists() and cluster.is_running():
            cluster.pg_ctl("stop")
        if cluster.log_path.exists():
            shutil.copy(cluster.log_path, keep_log_in / "postgresql.log")
        shutil.rmtree(base, ignore_errors=True)
