"""mlflow_serv.service booted for real: systemd as PID 1 in a throwaway container built FROM
${PYTHON_IMAGE}, the project installed and the unit enabled as docs/docker.md tells a user
(tests/support/systemd_unit.py). MLflow answers on :5000 with basic auth, the unit's default, and
its ExecStartPost has made the users; SIGKILL of its main process is followed by systemd's restart
(Restart=on-failure, RestartSec=5) within 15 s; `systemctl stop` stops it cleanly. The static
checks of the unit stay in tests/static/test_systemd.py."""

import pytest
import requests

from taller_mlflow.local.servers import free_port
from tests.support import wait_for
from tests.support.compose import compose_cmd
from tests.support.standins import images
from tests.support.systemd_unit import PASSWORDS, Machine, build_image

pytestmark = pytest.mark.timeout(2400)

RESTARTED_WITHIN = 15  # seconds from the SIGKILL to systemd's new main process (the bound)
ANSWERS_WITHIN = 300  # seconds for MLflow to answer after a (re)start on a loaded machine


@pytest.fixture(scope="module")
def machine(tmp_path_factory):
    compose_cmd()  # fails with one line when there is no Docker / Compose
    image = build_image(
        tmp_path_factory.mktemp("systemd"),
        images(["PYTHON_IMAGE"]).get("PYTHON_IMAGE", "python:3.11-slim"),
    )
    box = Machine(image, free_port())
    try:
        # Booted: every unit started, mlflow_serv included, whose start ends once its
        # ExecStartPost has made the users, so the boot waits for MLflow's first start too.
        if not wait_for(box.booted, ANSWERS_WITHIN, interval=1):
            pytest.fail(
                "systemd did not finish booting in the container:\n"
                + box.sh("systemctl --failed", check=False).stdout
            )
        yield box
    finally:
        box.remove()


def healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=5).ok
    except requests.RequestException:
        return False


def active(machine) -> bool:
    """Started: the server answers and ExecStartPost (the users) has finished."""
    return machine.unit("ActiveState") == "active"


def test_the_enabled_unit_starts_at_boot_and_mlflow_answers(machine):
    assert wait_for(lambda: healthy(machine.url), ANSWERS_WITHIN, 2), machine.journal()
    assert wait_for(lambda: active(machine), ANSWERS_WITHIN, 1), machine.journal()
    assert machine.unit("DynamicUser") == "yes"
    uid = machine.sh(f"stat -c %u /proc/{machine.unit('MainPID')}").stdout.strip()
    assert uid not in {"0", ""}, "DynamicUser=yes should run it as a transient user"


def test_sigkill_of_the_main_process_is_followed_by_a_restart_within_15_s(machine):
    assert wait_for(lambda: healthy(machine.url), ANSWERS_WITHIN, 2), machine.journal()
    killed = machine.unit("MainPID")
    restarts = int(machine.unit("NRestarts"))
    machine.sh(f"kill -9 {killed}")

    def restarted() -> bool:
        pid = machine.unit("MainPID")
        return pid not in {"0", killed} and int(machine.unit("NRestarts")) == restarts + 1

    assert wait_for(restarted, RESTARTED_WITHIN, 0.5), machine.journal()
    assert wait_for(lambda: healthy(machine.url), ANSWERS_WITHIN, 2), machine.journal()
    assert wait_for(lambda: active(machine), ANSWERS_WITHIN, 1), machine.journal()


@pytest.mark.security
def test_the_unit_runs_mlflow_with_basic_auth_and_its_users(machine):
    assert wait_for(lambda: active(machine), ANSWERS_WITHIN, 1), machine.journal()
    search = f"{machine.url}/api/2.0/mlflow/experiments/search"
    assert requests.post(search, json={"max_results": 1}, timeout=30).status_code == 401
    create = f"{machine.url}/api/2.0/mlflow/registered-models/create"
    assert requests.post(create, json={"name": "evil"}, timeout=30).status_code == 401
    current = f"{machine.url}/api/2.0/mlflow/users/current"
    for role in ["trainer", "promoter", "reader", "monitor"]:
        answer = requests.get(current, auth=(role, PASSWORDS[role]), timeout=30)
        assert answer.status_code == 200, (role, answer.text[:200], machine.journal())
    alias = {"name": "modelo_penguins", "alias": "production", "version": "1"}
    moved = requests.post(f"{machine.url}/api/2.0/mlflow/registered-models/alias", json=alias,
                          auth=("trainer", PASSWORDS["trainer"]), timeout=30)  # fmt: skip
    assert moved.status_code == 403, moved.text[:200]
    journal = machine.journal()
    assert all(password not in journal for password in PASSWORDS.values())


def test_systemctl_stop_stops_it_cleanly(machine):
    assert wait_for(lambda: healthy(machine.url), ANSWERS_WITHIN, 2), machine.journal()
    machine.sh("systemctl stop mlflow_serv", timeout=90)
    assert machine.unit("ActiveState") == "inactive"
    assert machine.unit("Result") == "success", machine.journal()
    assert machine.unit("MainPID") == "0"
    assert machine.mlflow_processes() == []
    assert not healthy(machine.url)
