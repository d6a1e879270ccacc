"""`make doctor` on this machine, as a student runs it: a port held by this test process is named
with its process and fails the check, in English and in Spanish; `make run` stops on it before
installing or starting anything; and the whole doctor answers within 10 s.

The held ports are spare ones passed as make run's own flags (--mlflow-port ...), so nothing here
depends on what else this machine runs on 5000, 8989 or 8888."""

import os
import shutil
import socket
import subprocess
import sys

import pytest

from taller_mlflow.local.servers import ROOT, free_port

SEVERITIES = ("ok", "warn", "problem", "aviso", "problema")


@pytest.fixture
def held():
    """A listening socket on a spare port, held by this process; plus two other spare ports."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1], free_port(), free_port()


def run_args(ports) -> str:
    mlflow, api, jupyter = ports
    return f"--mlflow-port {mlflow} --api-port {api} --jupyter-port {jupyter}"


def run(cmd, lang="C.UTF-8", timeout=60) -> subprocess.CompletedProcess:
    env = {**os.environ, "LANG": lang}
    env.pop("LC_ALL", None)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def need_make():
    if not shutil.which("make"):
        pytest.fail("no make on PATH: apt-get install make")


def test_the_script_names_the_held_port_and_this_process_and_fails(held):
    python = shutil.which("python3") or sys.executable
    out = run([python, "-m", "taller_mlflow.local.doctor", "--for", "run", *run_args(held).split()])
    assert out.returncode == 1, out.stdout + out.stderr
    line = next(x for x in out.stdout.splitlines() if f"port {held[0]} " in x)
    assert line.split()[:2] == ["problem", "ports"], line
    assert f"port {held[0]} (make run, MLflow) is in use by " in line
    assert f"(pid {os.getpid()})" in line, line  # the process holding it: this test
    assert 'make run RUN_ARGS="--mlflow-port ' in line, line
    assert out.stdout.splitlines()[-1].startswith("doctor: 1 problem(s)")


def test_make_doctor_speaks_spanish_with_lang_es(held):
    need_make()
    out = run(
        ["make", "--no-print-directory", "doctor", "FOR=run", f"RUN_ARGS={run_args(held)}"],
        lang="es_CO.UTF-8",
    )
    assert out.returncode != 0
    assert "make doctor para run:" in out.stdout
    assert (
        f"problema puertos    el puerto {held[0]} (make run, MLflow) está en uso por " in out.stdout
    )
    assert f"(pid {os.getpid()})" in out.stdout
    assert "doctor: 1 problema(s)" in out.stdout


def test_make_run_stops_on_the_doctors_problem_before_installing_or_starting(held):
    need_make()
    out = run(["make", "--no-print-directory", "run", f"RUN_ARGS={run_args(held)}"])
    assert out.returncode != 0
    assert f"port {held[0]} (make run, MLflow) is in use by " in out.stdout
    assert "doctor-run" in out.stderr  # make says which step failed
    assert "creating .venv" not in out.stdout and "[1/5]" not in out.stdout, out.stdout


def test_make_doctor_for_every_path_prints_one_line_per_check_and_a_verdict():
    need_make()
    out = run(["make", "--no-print-directory", "doctor", "FOR=all"])
    lines = out.stdout.splitlines()
    assert lines[0].startswith("make doctor for run, up, unit:")
    assert lines[-1].startswith("doctor: ")
    body = lines[1:-1]
    assert body and all(line.split()[0] in SEVERITIES for line in body), out.stdout
    names = {line.split()[1] for line in body}
    assert {"python", "venv", "docker", "compose", "ports", "disk", "memory", "systemd"} <= names
    problems = [line for line in body if line.split()[0] == "problem"]
    assert (out.returncode != 0) == bool(problems), out.stdout
