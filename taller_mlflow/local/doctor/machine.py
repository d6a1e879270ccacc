"""Every question the checks ask the machine, with a timeout (tests pass a fake Probe)."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from taller_mlflow.local import preflight
from taller_mlflow.local.doctor.common import (
    ROOT,
    TIMEOUT,
)


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
