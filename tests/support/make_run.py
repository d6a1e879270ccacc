"""`make run` as a user starts it, on spare ports, for the tests that kill it, interrupt it, open
its pages in a browser and run its notebook.

make runs in a session of its own (so a SIGINT to its process group is the terminal's Ctrl-C),
with its output in a file the tests read as it grows."""

import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from taller_mlflow.local.servers import ROOT, free_port
from tests.support import wait_for
from tests.support.processes import still_running

READY = "Press Ctrl-C to stop everything"


@dataclass
class MakeRun:
    proc: subprocess.Popen
    log: Path
    workdir: Path
    mlflow_port: int
    api_port: int
    jupyter_port: int

    @property
    def mlflow(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def jupyter(self) -> str:
        return f"http://127.0.0.1:{self.jupyter_port}"

    @property
    def ports(self) -> list[int]:
        return [self.mlflow_port, self.api_port, self.jupyter_port]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float) -> None:
        """Until `text` is in the output; fails at once, with the output, if make exits first."""
        found = wait_for(lambda: text in self.output() or self.proc.poll() is not None, timeout, 1)
        if text not in self.output():
            state = f"make exited with {self.proc.poll()}" if found else f"not within {timeout} s"
            pytest.fail(f"`make run` never printed {text!r} ({state}):\n{self.output()[-6000:]}")

    @property
    def token(self) -> str:
        match = re.search(r"JupyterLab\s+\S+\?token=(\w+)", self.output())
        assert match, f"no JupyterLab token printed:\n{self.output()[-3000:]}"
        return match.group(1)

    def supervisor(self) -> psutil.Process:
        """The Python process make started (the supervisor)."""
        kids = psutil.Process(self.proc.pid).children()
        assert kids, "make has no child"
        return kids[0]

    def server_pid(self, needle: str) -> int:
        """The pid of the supervisor's child whose command line contains `needle`."""
        for child in self.supervisor().children():
            if needle in " ".join(child.cmdline()):
                return child.pid
        raise AssertionError(f"no child of the supervisor runs {needle!r}")

    def descendants(self) -> list[psutil.Process]:
        root = psutil.Process(self.proc.pid)
        return [root, *root.children(recursive=True)]

    def stop(self) -> None:
        """Ctrl-C, then whatever is left is killed, so no test leaves a server behind."""
        if self.proc.poll() is None:
            leftovers = self.descendants()
            os.killpg(self.proc.pid, signal.SIGINT)
            for proc in still_running(leftovers, 30):
                proc.kill()
            self.proc.wait(10)


def start_make_run(workdir: Path, *run_args: str) -> MakeRun:
    if not shutil.which("make"):
        pytest.fail("no make on PATH: apt-get install make")
    workdir.mkdir(parents=True, exist_ok=True)
    ports = free_port(), free_port(), free_port()
    args = ["--workdir", str(workdir), "--mlflow-port", str(ports[0]), "--api-port"]
    args += [str(ports[1]), "--jupyter-port", str(ports[2]), *run_args]
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_TOKEN"}
    log = workdir / "make-run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"RUN_ARGS={' '.join(args)}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return MakeRun(proc, log, workdir, *ports)
