"""A throwaway machine with systemd as PID 1 (a container), set up as docs/docker.md tells a user
to run MLflow on the host: the repository at /opt/taller_mlflow, its venv in .venv
(`pip install -c constraints.txt ".[auth]"`: MLflow and its basic-auth app), its settings in
.env, mlflow_serv.service copied to /etc/systemd/system and enabled.

The container is not privileged (`--privileged` is refused on this machine): systemd gets the
host's cgroup tree read-write and tmpfs on /run and /run/lock. The unit's sandboxing
(DynamicUser, PrivateTmp, ProtectSystem, ProtectHome) sets up a mount namespace per start, which
needs CAP_SYS_ADMIN and mount(2) past Docker's default seccomp and AppArmor profiles; without them
every start fails with 226/NAMESPACE, a limit of the container, not of the unit."""

import secrets
import shutil
import subprocess
import time
from pathlib import Path

from taller_mlflow.local.servers import ROOT

DOCKERFILE = """\
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}
RUN apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
       systemd systemd-sysv > /dev/null \\
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/taller_mlflow
COPY constraints.txt pyproject.toml README.md ./
COPY taller_mlflow ./taller_mlflow
RUN python3 -m venv .venv && .venv/bin/pip install -q --no-cache-dir -c constraints.txt ".[auth]"
COPY mlflow ./mlflow
COPY env ./.env
COPY mlflow_serv.service /etc/systemd/system/mlflow_serv.service
RUN systemctl enable mlflow_serv
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
"""

# MLflow's users as `make up` generates them into .env: the admin and the four roles.
PASSWORDS = {
    role: secrets.token_urlsafe(16)
    for role in ["admin", "trainer", "promoter", "reader", "monitor"]
}
# What .env gives the unit here: the stores in its StateDirectory instead of PostgreSQL and
# MinIO, so the machine needs nothing else; the unit, script and paths are the real ones. Auth is
# the unit's default (on); MLFLOW_HOST=0.0.0.0 because the test reaches the server through the
# container's published port, which start_mlflow.sh allows with auth on.
UNIT_ENV = (
    "MLFLOW_BACKEND_STORE_URI=sqlite:////var/lib/mlflow_serv/mlflow.db\n"
    "MLFLOW_ARTIFACTS_DESTINATION=/var/lib/mlflow_serv/artifacts\n"
    "MLFLOW_WORKERS=1\n"
    "MLFLOW_HOST=0.0.0.0\n"
    f"MLFLOW_AUTH_ADMIN_PASSWORD={PASSWORDS['admin']}\n"
    + "".join(
        f"MLFLOW_{role.upper()}_PASSWORD={password}\n"
        for role, password in PASSWORDS.items()
        if role != "admin"
    )
)


def run(cmd: list[str], timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out


def build_image(context: Path, python_image: str) -> str:
    for name in ["constraints.txt", "pyproject.toml", "README.md", "mlflow_serv.service"]:
        shutil.copy(ROOT / name, context / name)
    for folder in ["taller_mlflow", "mlflow"]:
        shutil.copytree(
            ROOT / folder, context / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    (context / "env").write_text(UNIT_ENV)
    (context / "Dockerfile").write_text(DOCKERFILE)
    tag = "taller-mlflow-systemd-test:local"
    run(["docker", "build", "-q", "-t", tag, "--build-arg", f"PYTHON_IMAGE={python_image}",
         str(context)], timeout=1800)  # fmt: skip
    return tag


class Machine:
    def __init__(self, image: str, host_port: int):
        self.name = f"taller-systemd-{secrets.token_hex(4)}"
        self.url = f"http://127.0.0.1:{host_port}"
        run(["docker", "run", "-d", "--name", self.name,
             "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
             "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined",
             "--security-opt", "apparmor=unconfined",
             "-p", f"127.0.0.1:{host_port}:5000", image])  # fmt: skip

    def sh(self, command: str, check: bool = True, timeout: float = 120):
        return run(["docker", "exec", self.name, "sh", "-c", command], timeout, check)

    def unit(self, prop: str) -> str:
        return self.sh(f"systemctl show -p {prop} --value mlflow_serv").stdout.strip()

    def mlflow_processes(self) -> list[str]:
        """Command lines of the MLflow processes left in the machine (the image has no ps)."""
        script = "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done 2>/dev/null"
        return [line for line in self.sh(script).stdout.splitlines() if "mlflow server" in line]

    def journal(self) -> str:
        return self.sh("journalctl -u mlflow_serv --no-pager -n 60", check=False).stdout

    def booted(self) -> bool:
        state = self.sh("systemctl is-system-running", check=False).stdout.strip()
        return state in {"running", "degraded"}

    def remove(self) -> None:
        run(["docker", "rm", "-f", self.name], check=False)


def elapsed(since: float) -> float:
    return time.monotonic() - since
