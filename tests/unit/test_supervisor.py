"""taller_mlflow.local.supervisor and its watchdog, on tiny Python children (not the project's servers).

`make run` itself under the supervisor (MLflow killed, make killed, Ctrl-C during training) is
tests/integration/make_run/test_make_run_supervision.py."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from taller_mlflow.local.servers import Server, free_port, port_is_free
from taller_mlflow.local.supervisor import Child, RestartPolicy, Supervisor
from taller_mlflow.local.watchdog import read_groups
from tests.support import wait_for
from tests.support.processes import still_running

FAST = RestartPolicy(max_restarts=5, window=60, first_delay=0.01, max_delay=0.05)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def web(port: int, name: str = "web") -> Server:
    cmd = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    return Server(name, cmd, f"http://127.0.0.1:{port}/")


def holds_port_in_grandchild(port: int) -> list[str]:
    """A leader whose child (same process group) listens on `port`, like mlflow → uvicorn."""
    return python(f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"])
        time.sleep(600)
    """)


def gone(proc: psutil.Process) -> bool:
    return not still_running([proc], 0)


@pytest.fixture
def lines():
    return []


@pytest.fixture
def supervisor(lines):
    sup = Supervisor(say=lines.append, policy=FAST, grace=1.0)
    yield sup
    sup.stop()


def test_backoff_doubles_from_the_first_delay_up_to_the_cap():
    policy = RestartPolicy(first_delay=1, max_delay=10)
    assert [policy.delay(n) for n in range(6)] == [1, 2, 4, 8, 10, 10]


def test_only_restarts_inside_the_window_count():
    child = Child(Server("x", ["true"], "http://unused"))
    child.restarts.extend([0.0, 10.0, 50.0, 65.0])
    assert child.recent(now=100.0, window=60.0) == 2  # 50 and 65; 0 and 10 are older than 60 s


def test_a_child_that_keeps_exiting_is_restarted_5_times_then_given_up_with_the_reason(
    supervisor, lines
):
    flapper = Server("flapper", python("import sys; sys.exit(3)"), "http://unused")
    child = supervisor.spawn(flapper)
    assert wait_for(lambda: child.gave_up, 60), lines
    restarts = [line for line in lines if line.startswith("restarted flapper")]
    assert len(restarts) == 5, lines
    assert "restart 5 of 5 allowed in 60 s" in restarts[-1]
    assert sum("flapper exited with 3; restarting it in" in line for line in lines) == 5
    assert "flapper exited with 3 after 5 restarts in 60 s; giving up on it" in lines[-1]
    assert supervisor.all_gave_up


def test_the_other_children_keep_serving_while_one_flaps_and_is_given_up(supervisor, lines):
    port = free_port()
    steady = supervisor.start(web(port, "steady"), timeout=60)
    pid = steady.server.proc.pid
    flapper = supervisor.spawn(Server("flapper", python("raise SystemExit(1)"), "http://unused"))
    assert wait_for(lambda: flapper.gave_up, 60), lines
    assert steady.server.running and steady.server.proc.pid == pid
    assert not steady.restarts and not supervisor.all_gave_up


def test_a_killed_child_is_restarted_after_its_leftover_workers_are_ended(supervisor, lines):
    port = free_port()
    server = Server("leader", holds_port_in_grandchild(port), f"http://127.0.0.1:{port}/")
    child = supervisor.start(server, timeout=60)
    first = child.server.proc.pid
    worker = psutil.Process(first).children()[0]
    os.kill(first, signal.SIGKILL)  # the leader dies; its worker would go on holding the port
    assert wait_for(lambda: child.server.proc.pid != first and child.server.running, 30), lines
    assert gone(worker)
    child.server.wait_healthy(60)  # the new worker could bind the same port
    assert any(line.startswith("leader exited with -9; restarting it") for line in lines)


def test_stop_ends_a_child_that_ignores_sigterm_after_the_grace_period(lines):
    stubborn = python("""
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ignoring", flush=True)
        time.sleep(600)
    """)
    sup = Supervisor(say=lines.append, policy=FAST, grace=1.0)
    child = sup.spawn(Server("stubborn", stubborn, "http://unused"))
    time.sleep(0.5)  # let it install its handler
    started = time.monotonic()
    sup.stop()
    assert time.monotonic() - started < 5
    assert not child.server.running
    assert not any("restart" in line for line in lines), lines


def test_nothing_is_spawned_once_stop_has_begun(supervisor):
    supervisor.stop()
    with pytest.raises(RuntimeError, match="stopping"):
        supervisor.spawn(Server("late", python("pass"), "http://unused"))


SUPERVISED_SCRIPT = """
import sys, time
from taller_mlflow.local.servers import Server
from taller_mlflow.local.supervisor import Supervisor
leader_port, worker_port = int(sys.argv[1]), int(sys.argv[2])
sup = Supervisor()
sup.start(Server("web", [sys.executable, "-m", "http.server", str(leader_port),
                         "--bind", "127.0.0.1"], f"http://127.0.0.1:{leader_port}/"), 60)
worker = [sys.executable, "-c", "import subprocess, sys, time; subprocess.Popen([sys.executable,"
          f" '-m', 'http.server', '{worker_port}', '--bind', '127.0.0.1']); time.sleep(600)"]
sup.start(Server("group", worker, f"http://127.0.0.1:{worker_port}/"), 60)
print("ready", flush=True)
time.sleep(600)
"""


def test_no_child_or_grandchild_outlives_a_sigkilled_supervisor(tmp_path):
    ports = [free_port(), free_port()]
    script = tmp_path / "supervised.py"
    script.write_text(SUPERVISED_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), *map(str, ports)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        descendants = psutil.Process(proc.pid).children(recursive=True)
        assert not any(port_is_free(p) for p in ports)
        proc.kill()
        proc.wait(10)
        assert wait_for(lambda: all(port_is_free(p) for p in ports), 5, interval=0.1), ports
        alive = still_running(descendants, 5)
        assert not alive, alive
    finally:
        proc.kill()


def test_the_watchdog_follows_guard_and_forget_lines():
    assert read_groups(["+10\n", "+11\n", "-10\n", "junk\n", "+12", "-99"]) == {11, 12}
