"""`make doctor` (taller_mlflow/local/doctor/): each check's logic against a fake machine.

The fake answers what the checks ask (commands, files, ports, disk, the platform); nothing here
touches Docker, binds a port or reads /proc. tests/integration/test_doctor_command.py runs the
real command against this machine."""

import ast
import io
import json
from pathlib import Path

import pytest

from taller_mlflow.local import doctor
from taller_mlflow.local.doctor import OK, PROBLEM, WARN, Options, Probe, Ran

GIB = 1024**3
ROOT = Path("/home/student/taller_mlflow")
MEMINFO = "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    {kb} kB\n"
WSL2 = "Linux version 5.15.167.4-microsoft-standard-WSL2 (root@...) (gcc ...) #1 SMP"
WSL1 = "Linux version 4.4.0-22621-Microsoft (Microsoft@Microsoft.com) (gcc version 5.4.0) #1"
DOCKER_DENIED = (
    "permission denied while trying to connect to the Docker daemon socket at "
    'unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.50/info": dial unix '
    "/var/run/docker.sock: connect: permission denied"
)
DOCKER_DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"


def compose_config(*ports) -> str:
    """`docker compose config --format json` publishing (service, host ip, host port, target)."""
    services = {}
    for service, host_ip, port, target in ports:
        services.setdefault(service, {"ports": []})["ports"].append(
            {"target": target, "published": str(port), "host_ip": host_ip}
        )
    return json.dumps({"services": services})


STACK = compose_config(
    ("mysql", "127.0.0.1", 3306, 3306),
    ("postgres", "127.0.0.1", 5432, 5432),
    ("mlflow", "127.0.0.1", 5000, 5000),
    ("api", "0.0.0.0", 8989, 8989),
)


class FakeProbe(Probe):
    """A machine described by plain data: answers[command prefix] = Ran, files, busy ports..."""

    def __init__(self, **kw):
        super().__init__(kw.pop("root", ROOT))
        self.system_info = kw.pop("system", ("Linux", "6.1.0", "x86_64"))
        self.files = {
            "/proc/version": "Linux version 6.1.0-28-amd64 (debian-kernel@lists.debian.org)",
            "/proc/1/comm": "systemd\n",
            "/proc/meminfo": MEMINFO.format(kb=8 * 1024 * 1024),
        }
        self.files.update(kw.pop("files", {}))
        self.existing = set(kw.pop("existing", set()))
        self.busy = set(kw.pop("busy", set()))  # ports
        self.holder = kw.pop("holder", {})  # port -> [(name, pid)]
        self.free = kw.pop("free", 50 * GIB)
        self.programs = kw.pop("programs", {"python3.11", "python3", "systemctl", "ss"})
        self.answers = {
            "python": Ran(0, "3.11.7\n"),
            ".venv/bin/python": Ran(0, "3.11.7\n"),
            "docker info": Ran(0, "28.2.2|/var/lib/docker|16000000000|Ubuntu 24.04 LTS\n"),
            "docker compose version": Ran(0, "2.40.3\n"),
            "docker compose config": Ran(0, STACK),
            "docker compose --env-file": Ran(0, STACK),
            "docker compose ps": Ran(0, "[]"),
            "systemctl --version": Ran(0, "systemd 252 (252.33-1~deb12u1)\n+PAM +AUDIT\n"),
        }
        self.answers.update(kw.pop("answers", {}))
        self.calls: list[list[str]] = []
        assert not kw, kw

    def run(self, cmd, timeout=doctor.TIMEOUT):
        self.calls.append(cmd)
        line = " ".join(cmd)
        if cmd[0].endswith(".venv/bin/python"):
            return self.answers[".venv/bin/python"]
        if "python" in Path(cmd[0]).name:
            return self.answers["python"]
        for prefix in sorted(self.answers, key=len, reverse=True):
            if line.startswith(prefix):
                return self.answers[prefix]
        return Ran(127, "", f"{cmd[0]}: not found")

    def which(self, name):
        return f"/usr/bin/{name}" if name in self.programs else None

    def read(self, path):
        return self.files.get(str(path))

    def exists(self, path):
        path = str(path)
        return path in self.existing or path in self.files or path == "/var/lib/docker"

    def port_busy(self, host, port):
        return port in self.busy

    def disk_free(self, path):
        return self.free

    def system(self):
        return self.system_info

    def holders(self, port):
        return self.holder.get(port, [])

    def port_variables(self):
        return {3306: "MYSQL_HOST_PORT", 5432: "POSTGRES_HOST_PORT", 5000: "MLFLOW_HOST_PORT"}


def results_for(check, probe=None, **opts):
    return check(probe or FakeProbe(), Options(**opts))


def one(results, severity=None):
    assert len(results) == 1, results
    if severity:
        assert results[0].severity == severity, results[0]
    return results[0]


def en(message) -> str:
    return message.render("en") if message is not None else ""


# --- Python and the venv ---------------------------------------------------------------------


def test_python_311_with_venv_is_ok():
    result = one(results_for(doctor.check_python, paths=("run",)), OK)
    assert en(result.found) == "Python 3.11.7 (/usr/bin/python3.11) with venv and ensurepip"


def test_another_python_version_is_a_problem_for_make_run_with_the_install_command():
    probe = FakeProbe(answers={"python": Ran(0, "3.12.3\n")})
    result = one(results_for(doctor.check_python, probe, paths=("run",)), PROBLEM)
    assert "Python 3.12.3" in en(result.found) and "make run needs Python 3.11" in en(result.found)
    assert "sudo apt-get install python3.11 python3.11-venv" in en(result.fix)


def test_python_without_ensurepip_names_the_venv_package():
    missing = Ran(1, "3.11.2\n", "ModuleNotFoundError: No module named 'ensurepip'")
    probe = FakeProbe(answers={"python": missing})
    result = one(results_for(doctor.check_python, probe, paths=("run",)), PROBLEM)
    assert "has no working venv/ensurepip" in en(result.found)
    assert en(result.fix) == "sudo apt-get install python3.11-venv"


def test_no_python_at_all():
    probe = FakeProbe(programs=set())
    result = one(results_for(doctor.check_python, probe, paths=("run",)), PROBLEM)
    assert "no Python 3 found" in en(result.found)


def test_the_python_make_run_uses_is_the_one_checked():
    probe = FakeProbe()
    doctor.check_python(probe, Options(paths=("run",), python="/opt/py/bin/python3.11"))
    assert probe.calls[0][0] == "/opt/py/bin/python3.11"


def test_venv_not_created_yet_is_fine_and_says_make_run_creates_it():
    result = one(results_for(doctor.check_venv, paths=("run",)), OK)
    assert "make run creates it" in en(result.found)


def test_a_venv_of_another_python_is_a_problem_with_the_way_out():
    probe = FakeProbe(
        existing={str(ROOT / ".venv")}, answers={".venv/bin/python": Ran(0, "3.10.12\n")}
    )
    result = one(results_for(doctor.check_venv, probe, paths=("run",)), PROBLEM)
    assert en(result.found) == ".venv uses Python 3.10.12, not 3.11"
    assert en(result.fix).startswith("rm -rf .venv, then make run")


def test_an_installed_venv():
    probe = FakeProbe(existing={str(ROOT / ".venv"), str(ROOT / ".venv" / ".run-installed")})
    result = one(results_for(doctor.check_venv, probe, paths=("run",)), OK)
    assert en(result.found) == ".venv: Python 3.11.7, packages installed"


# --- Docker and Compose ----------------------------------------------------------------------


def docker_results(probe, paths=("up",)):
    opts = Options(paths=paths)
    return doctor.check_docker(probe, opts, doctor.docker_info(probe, opts))


def test_a_reachable_engine_reports_its_version():
    result = one(docker_results(FakeProbe()), OK)
    assert en(result.found) == "Docker engine 28.2.2 reachable (Ubuntu 24.04 LTS)"


def test_docker_permission_denied_quotes_the_error_and_gives_the_group_fix():
    probe = FakeProbe(answers={"docker info": Ran(1, "|||\n", DOCKER_DENIED)})
    result = one(docker_results(probe), PROBLEM)
    assert "permission denied on the Docker socket" in en(result.found)
    assert "/var/run/docker.sock: connect: permission denied" in en(result.found)
    assert en(result.fix).startswith("sudo usermod -aG docker $USER")


@pytest.mark.parametrize(
    "system, version, fix",
    [
        (("Linux", "6.1", "x86_64"), "Linux version 6.1.0", "sudo systemctl start docker"),
        (("Darwin", "23.0", "arm64"), "", "start Docker Desktop"),
        (("Linux", "5.15", "x86_64"), WSL2, "WSL integration"),
    ],
)
def test_an_engine_that_does_not_answer_gets_the_platforms_way_to_start_it(system, version, fix):
    probe = FakeProbe(
        system=system,
        files={"/proc/version": version},
        answers={"docker info": Ran(1, "|||\n", DOCKER_DOWN)},
    )
    result = one(docker_results(probe), PROBLEM)
    assert "Is the docker daemon running?" in en(result.found)
    assert fix in en(result.fix)


def test_docker_not_installed_and_docker_hanging():
    missing = FakeProbe(answers={"docker info": Ran(127, "", "docker: not found")})
    assert en(one(docker_results(missing), PROBLEM).found) == "docker is not installed"
    hung = FakeProbe(answers={"docker info": Ran(124, "", "no answer within 5 s")})
    assert "did not answer within 5 s" in en(one(docker_results(hung), PROBLEM).found)


def compose_results(probe):
    opts = Options(paths=("up",))
    return doctor.check_compose(probe, opts, doctor.compose_version(probe, opts))


@pytest.mark.parametrize("out", ["2.40.3\n", "v2.40.3\n", "2.20.3\n"])
def test_compose_v2_new_enough(out):
    probe = FakeProbe(answers={"docker compose version": Ran(0, out)})
    assert one(compose_results(probe), OK)


def test_compose_older_than_include_support_is_a_problem():
    probe = FakeProbe(answers={"docker compose version": Ran(0, "v2.17.2\n")})
    result = one(compose_results(probe), PROBLEM)
    assert "Compose 2.17.2: docker-compose.yaml uses include:" in en(result.found)
    assert "docker-compose-plugin" in en(result.fix)


def test_no_compose_plugin():
    unknown = Ran(1, "", "docker: unknown command: docker compose\n\nRun 'docker --help'")
    probe = FakeProbe(answers={"docker compose version": unknown})
    result = one(compose_results(probe), PROBLEM)
    assert "Compose v2 is not installed" in en(result.found)
    assert "docker-compose 1.x cannot read these files" in en(result.fix)


# --- ports -----------------------------------------------------------------------------------


def test_run_ports_free():
    result = one(results_for(doctor.check_run_ports, paths=("run",)), OK)
    assert en(result.found) == "5000, 8989, 8888 free (make run)"


def test_a_busy_run_port_names_the_port_the_process_and_the_flag_that_moves_it():
    probe = FakeProbe(busy={5000}, holder={5000: [("python3", 4242)]})
    result = one(results_for(doctor.check_run_ports, probe, paths=("run",)), PROBLEM)
    assert en(result.found) == "port 5000 (make run, MLflow) is in use by python3 (pid 4242)"
    assert (
        en(result.fix)
        == 'stop it, or move make run\'s MLflow: make run RUN_ARGS="--mlflow-port 5001"'
    )


def test_run_ports_follow_make_runs_flags_and_jupyter_off():
    probe = FakeProbe(busy={8888, 8990})
    opts = Options(paths=("run",), api_port=8990, no_jupyter=True)
    result = one(doctor.check_run_ports(probe, opts), PROBLEM)
    assert "port 8990 (make run, API)" in en(result.found)
    probe = FakeProbe(busy={8888})
    result = one(doctor.check_run_ports(probe, Options(paths=("run",))), PROBLEM)
    assert en(result.fix) == "stop it, or leave JupyterLab off: make run JUPYTER=0"


def test_a_port_held_by_docker_or_by_an_unseen_process():
    probe = FakeProbe(busy={5000}, holder={5000: [("docker-proxy", 977)]})
    found = en(one(results_for(doctor.check_run_ports, probe, paths=("run",))).found)
    assert "docker-proxy (pid 977): a Docker container publishes it (docker ps)" in found
    probe = FakeProbe(busy={5000})
    found = en(one(results_for(doctor.check_run_ports, probe, paths=("run",))).found)
    assert "a process this user cannot see (sudo ss -ltnp 'sport = :5000' names it)" in found


def test_up_ports_come_from_the_compose_config_and_name_the_variable_to_set():
    probe = FakeProbe(
        busy={3306}, holder={3306: [("mariadbd", 812)]}, existing={str(ROOT / ".env")}
    )
    result = one(doctor.check_up_ports(probe, Options(paths=("up",)), True), PROBLEM)
    assert (
        en(result.found) == "port 3306 (make up, mysql, 127.0.0.1) is in use by mariadbd (pid 812)"
    )
    assert "set MYSQL_HOST_PORT in .env to a free port, e.g. MYSQL_HOST_PORT=" in en(result.fix)
    assert ["docker", "compose", "config", "--format", "json"] in probe.calls


def test_up_ports_read_env_example_while_there_is_no_env_yet():
    probe = FakeProbe(existing={str(ROOT / ".env.example")})
    result = one(doctor.check_up_ports(probe, Options(paths=("up",)), True), OK)
    assert en(result.found) == "3306, 5000, 5432, 8989 free (make up)"
    assert probe.calls[0][:4] == ["docker", "compose", "--env-file", str(ROOT / ".env.example")]


def test_ports_the_running_stack_publishes_are_not_busy():
    ps = json.dumps({"Publishers": [{"PublishedPort": 3306}, {"PublishedPort": 0}]})
    probe = FakeProbe(
        busy={3306},
        existing={str(ROOT / ".env")},
        answers={"docker compose ps": Ran(0, ps + "\n" + ps)},
    )
    results = doctor.check_up_ports(probe, Options(paths=("up",)), True)
    assert [r.severity for r in results] == [OK, OK]
    assert "3306 already published by this project's running stack" in en(results[1].found)


def test_up_ports_when_the_compose_files_do_not_resolve():
    error = "required variable MYSQL_ROOT_PASSWORD is missing a value"
    probe = FakeProbe(
        existing={str(ROOT / ".env")}, answers={"docker compose config": Ran(15, "", error)}
    )
    result = one(doctor.check_up_ports(probe, Options(paths=("up",)), True), PROBLEM)
    assert error in en(result.found)
    not_checked = one(doctor.check_up_ports(probe, Options(paths=("up",)), False), WARN)
    assert "not checked" in en(not_checked.found)


# --- disk and memory -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "free, venv, severity",
    [
        (1 * GIB, False, PROBLEM),
        (3 * GIB, False, WARN),
        (5 * GIB, False, OK),
        (1 * GIB, True, WARN),
    ],
)
def test_run_disk_needs_room_for_the_venv_until_it_exists(free, venv, severity):
    existing = {str(ROOT / ".venv" / ".run-installed")} if venv else set()
    probe = FakeProbe(free=free, existing=existing)
    result = one(doctor.check_disk(probe, Options(paths=("run",)), doctor.Engine()), severity)
    assert "make run needs about" in en(result.found)


@pytest.mark.parametrize("free, severity", [(3 * GIB, PROBLEM), (6 * GIB, WARN), (9 * GIB, OK)])
def test_up_disk_is_checked_where_docker_keeps_its_images(free, severity):
    engine = doctor.Engine("28.2.2", "/var/lib/docker", 16 * GIB, "Debian")
    result = one(doctor.check_disk(FakeProbe(free=free), Options(paths=("up",)), engine), severity)
    assert "at /var/lib/docker; make up needs about 4.0 GiB" in en(result.found)


def test_docker_desktops_data_root_is_not_visible_and_not_a_problem():
    engine = doctor.Engine("28.2.2", "/var/lib/docker-desktop", 8 * GIB, "Docker Desktop")
    result = one(doctor.check_disk(FakeProbe(), Options(paths=("up",)), engine), OK)
    assert "not visible here" in en(result.found)


@pytest.mark.parametrize(
    "gib, paths, severity",
    [
        (0.5, ("run",), PROBLEM),
        (1.5, ("run",), WARN),
        (3, ("run",), OK),
        (1.5, ("up",), PROBLEM),
        (3, ("up",), WARN),
        (6, ("up",), OK),
    ],
)
def test_memory_thresholds(gib, paths, severity):
    probe = FakeProbe(files={"/proc/meminfo": MEMINFO.format(kb=int(gib * 1024 * 1024))})
    results = doctor.check_memory(probe, Options(paths=paths), doctor.Engine())
    assert one(results).severity == severity


def test_a_small_docker_desktop_vm_is_flagged():
    engine = doctor.Engine("28.2.2", "/var/lib/docker", 2 * GIB + 1, "Docker Desktop")
    results = doctor.check_memory(FakeProbe(), Options(paths=("up",)), engine)
    assert [r.severity for r in results] == [OK, WARN]
    assert "Docker Desktop > Settings > Resources" in en(results[1].fix)


def test_macos_memory_comes_from_sysctl():
    probe = FakeProbe(
        system=("Darwin", "23.0", "arm64"),
        files={"/proc/meminfo": None},
        answers={"sysctl -n hw.memsize": Ran(0, str(16 * GIB))},
    )
    probe.files.pop("/proc/meminfo")
    assert doctor.mem_available(probe) == 16 * GIB


# --- systemd and the platform ----------------------------------------------------------------


def test_systemd_as_pid_1_makes_the_unit_path_ok():
    result = one(results_for(doctor.check_systemd, paths=("unit",)), OK)
    assert "systemd 252 is PID 1" in en(result.found)


@pytest.mark.parametrize(
    "paths, severity",
    [(("run",), WARN), (("up",), WARN), (("run", "up"), WARN), (("unit",), PROBLEM)],
)
def test_no_systemd_warns_for_run_and_up_and_fails_only_the_unit_path(paths, severity):
    probe = FakeProbe(files={"/proc/1/comm": "process_api\n"})
    result = one(results_for(doctor.check_systemd, probe, paths=paths), severity)
    assert (
        en(result.found)
        == "not available here: the unit path needs systemd (PID 1 is process_api, not systemd)"
    )
    assert "docker-compose-mlflow.yaml" in en(result.fix)


def test_no_systemd_on_wsl_says_how_to_turn_it_on_and_on_macos_why_not():
    probe = FakeProbe(files={"/proc/1/comm": "init\n", "/proc/version": WSL2})
    result = one(results_for(doctor.check_systemd, probe, paths=("unit",)), PROBLEM)
    assert "[boot] systemd=true" in en(result.fix)
    mac = FakeProbe(system=("Darwin", "23.0", "arm64"), files={"/proc/1/comm": ""})
    assert "macOS has launchd" in en(
        one(results_for(doctor.check_systemd, mac, paths=("run",)), WARN).found
    )


def test_wsl2_warns_about_localhost_forwarding_and_windows_drives():
    probe = FakeProbe(root=Path("/mnt/c/Users/ana/taller_mlflow"), files={"/proc/version": WSL2})
    results = results_for(doctor.check_platform, probe, paths=("run",))
    assert [r.severity for r in results] == [WARN, WARN]
    assert "localhostForwarding" in en(results[0].found)
    assert "Windows drive (/mnt/c/Users/ana/taller_mlflow)" in en(results[1].found)


def test_wsl1_cannot_run_docker():
    probe = FakeProbe(files={"/proc/version": WSL1})
    assert one(results_for(doctor.check_platform, probe, paths=("up",)), PROBLEM)
    assert one(results_for(doctor.check_platform, probe, paths=("run",)), WARN)


def test_macos_limits_and_plain_linux():
    mac = FakeProbe(system=("Darwin", "23.0", "arm64"))
    found = [en(r.found) for r in results_for(doctor.check_platform, mac, paths=("run",))]
    assert "macOS: AirPlay Receiver listens on port 5000" in found
    linux = one(results_for(doctor.check_platform, paths=("run", "up")), OK)
    assert en(linux.found) == "Linux 6.1.0 (x86_64)"
    windows = FakeProbe(system=("Windows", "10", "AMD64"))
    assert one(results_for(doctor.check_platform, windows, paths=("run",)), PROBLEM)


# --- helpers ---------------------------------------------------------------------------------


def test_parse_ss_lsof_and_proc_net_tcp():
    ss = (
        "LISTEN 0 2048 127.0.0.1:5000 0.0.0.0:* "
        'users:(("python",pid=20454,fd=3),("python",pid=20453,fd=3))\n'
    )
    assert doctor.parse_ss(ss) == [("python", 20453), ("python", 20454)]
    assert doctor.parse_lsof("p812\ncControlCe\nf7\n") == [("ControlCe", 812)]
    tcp = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1\n"
        "   1: 0100007F:1388 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 4343 1\n"
    )
    assert doctor.listening_inodes(5000, [tcp, ""]) == {"4242"}
    assert doctor.listening_inodes(5001, [tcp]) == set()


def test_for_accepts_lists_all_and_ignores_make_runs_other_flags():
    opts, quiet, _ = doctor.parse_args(
        [
            "--for",
            "run up",
            "--stop-with-parent",
            "--quick",
            "--workdir",
            "/tmp/x",
            "--mlflow-port",
            "5001",
        ]
    )
    assert opts.paths == ("run", "up") and opts.mlflow_port == 5001 and not quiet
    assert doctor.parse_args(["--for", "all"])[0].paths == ("run", "up", "unit")
    assert doctor.parse_args(["--for", "unit,run"])[0].paths == ("run", "unit")
    assert doctor.parse_args([])[0].paths == ("run", "up")
    with pytest.raises(SystemExit):
        doctor.parse_args(["--for", "docker"])


def test_language_follows_lang():
    assert doctor.language({"LANG": "es_CO.UTF-8"}) == "es"
    assert doctor.language({"LANG": "es"}) == "es"
    assert doctor.language({"LANG": "C.UTF-8"}) == "en"
    assert doctor.language({}) == "en"


def test_every_message_has_its_spanish_and_every_placeholder_survives():
    modules = Path(doctor.__file__).parent.glob("*.py")
    templates = set()
    for node in (n for m in modules for n in ast.walk(ast.parse(m.read_text()))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "of" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                templates.add(arg.value)
    templates |= {doctor.OK, doctor.WARN, doctor.PROBLEM, "fix", *doctor.ORDER}
    verbatim = {t for t in templates if not any(c.isalpha() for c in t.replace("{text}", ""))}
    missing = sorted(t for t in templates - verbatim if t not in doctor.ES)
    assert not missing, missing
    placeholders = __import__("string").Formatter()
    for english, spanish in doctor.ES.items():
        names = {f for _, f, _, _ in placeholders.parse(english) if f}
        assert names == {f for _, f, _, _ in placeholders.parse(spanish) if f}, english


# --- the whole command -----------------------------------------------------------------------


def run_main(probe, *argv, lang="C.UTF-8"):
    out = io.StringIO()
    code = doctor.main(list(argv), probe=probe, env={"LANG": lang}, out=out)
    return code, out.getvalue()


def test_one_line_per_check_and_exit_0_with_only_warnings():
    probe = FakeProbe(files={"/proc/1/comm": "process_api\n"}, existing={str(ROOT / ".env")})
    code, out = run_main(probe)
    lines = out.splitlines()
    assert code == 0, out
    assert lines[0] == "make doctor for run, up: Linux 6.1.0 x86_64"
    names = [line.split()[1] for line in lines[1:-1]]
    assert names == [
        "platform",
        "python",
        "venv",
        "docker",
        "compose",
        "ports",
        "ports",
        "disk",
        "disk",
        "memory",
        "systemd",
    ]
    assert lines[-2].startswith(
        "  warn     systemd    not available here: the unit path needs systemd"
    )
    assert lines[-1].startswith("doctor: 0 problem(s), 1 warning(s) in ")


def test_a_busy_port_fails_with_its_line_and_the_fix():
    probe = FakeProbe(
        busy={5000}, holder={5000: [("python3", 4242)]}, existing={str(ROOT / ".env")}
    )
    code, out = run_main(probe, "--for", "run")
    assert code == 1
    assert (
        "  problem  ports      port 5000 (make run, MLflow) is in use by python3 (pid 4242) -> fix: stop it"
        in out
    )


def test_spanish_output():
    probe = FakeProbe(
        busy={5000}, holder={5000: [("python3", 4242)]}, files={"/proc/1/comm": "init\n"}
    )
    code, out = run_main(probe, "--for", "run", lang="es_CO.UTF-8")
    assert code == 1
    assert "make doctor para run: Linux 6.1.0 x86_64" in out
    assert (
        "problema puertos    el puerto 5000 (make run, MLflow) está en uso por python3 (pid 4242)"
        in out
    )
    assert "aviso    systemd    no disponible aquí: la ruta de la unidad necesita systemd" in out
    assert "doctor: 1 problema(s), 1 aviso(s) en " in out


def test_quiet_shows_only_what_the_chosen_path_needs():
    probe = FakeProbe(files={"/proc/1/comm": "process_api\n"})
    code, out = run_main(probe, "--for", "run", "--quiet")
    assert code == 0 and out.startswith("doctor: ready for run (") and len(out.splitlines()) == 1
    probe = FakeProbe(busy={8989}, files={"/proc/1/comm": "process_api\n"})
    code, out = run_main(probe, "--for", "run", "--quiet")
    assert code == 1 and "port 8989" in out and "systemd" not in out


def test_make_ups_part_leaves_the_ports_to_preflight():
    probe = FakeProbe(busy={3306}, existing={str(ROOT / ".env")})
    code, out = run_main(probe, "--for", "up", "--quiet", "--skip", "ports")
    assert code == 0, out
    assert not any("config" in call for call in probe.calls)


def test_no_docker_question_for_make_run_alone():
    probe = FakeProbe()
    run_main(probe, "--for", "run")
    assert not any(call[0] == "docker" for call in probe.calls)


def test_accents_are_dropped_where_the_terminal_cannot_show_them():
    class Ascii(io.StringIO):
        encoding = "ascii"

    assert doctor.printable("está en uso", Ascii()) == "esta en uso"
    assert (
        doctor.printable("está en uso", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
        == "está en uso"
    )
