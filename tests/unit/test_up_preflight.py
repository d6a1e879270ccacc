"""`make up` checks the host ports before it touches Docker (taller_mlflow/local/preflight.py) and prints
the URLs of the ports actually published.

`make -f docker.mk up` runs in a copy of the compose files with a fake `docker compose`, a script
that answers `config` with a model publishing the chosen ports, answers `port` with them, and
records every other command it is asked to run."""

import json
import shutil
import socket
import subprocess
import textwrap

import pytest

from taller_mlflow.local import preflight
from taller_mlflow.local.servers import ROOT, free_port
from tests.support.up_checkout import copy_up_checkout

SERVICES = {  # service: (container port, host ip)
    "mysql": (3306, "127.0.0.1"),
    "postgres": (5432, "127.0.0.1"),
    "minio": (9000, "127.0.0.1"),
    "mlflow": (5000, "0.0.0.0"),
    "api": (8989, "0.0.0.0"),
    "jupyter": (8888, "127.0.0.1"),
}


def compose_model(ports: dict[int, int]) -> dict:
    """A `docker compose config` model publishing container port → host port."""
    services = {}
    for name, (target, host_ip) in SERVICES.items():
        services[name] = {
            "ports": [{"target": target, "published": str(ports[target]), "host_ip": host_ip}]
        }
    services["minio"]["ports"].append(
        {"target": 9001, "published": str(ports[9001]), "host_ip": "127.0.0.1"}
    )
    return {"services": services}


def spare_ports() -> dict[int, int]:
    return {target: free_port() for target in [3306, 5432, 9000, 9001, 5000, 8989, 8888]}


@pytest.fixture
def checkout(tmp_path):
    """What `make -f docker.mk up` reads (tests/support/up_checkout.py)."""
    return copy_up_checkout(tmp_path)


def fake_compose(folder, model: dict):
    calls = folder / "calls.log"
    script = folder / "fake-compose"
    ports = {
        f"{name} {port['target']}": f"{port['host_ip']}:{port['published']}"
        for name, svc in model["services"].items()
        for port in svc["ports"]
    }
    script.write_text(
        textwrap.dedent(f"""\
        #!/usr/bin/env python3
        import json, sys
        args = sys.argv[1:]
        open({str(calls)!r}, "a").write(" ".join(args) + "\\n")
        if args[:1] == ["info"]:  # as `docker info --format ...`: the engine doctor.py asks
            print("28.2.2|/|17179869184|fake engine")
        elif args[:1] == ["version"]:  # as `docker compose version --short`
            print("2.40.3")
        elif args[:1] == ["config"]:
            print({json.dumps(model)!r})
        elif args[:1] == ["ps"]:
            print("[]")
        elif args[:1] == ["port"]:
            print({ports!r}[" ".join(args[1:3])])
        """)
    )
    script.chmod(0o755)
    return script, calls


def make_up(checkout, script) -> subprocess.CompletedProcess:
    if not shutil.which("make"):
        pytest.fail("no make on PATH: apt-get install make")
    return subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-f",
            "docker.mk",
            "up",
            f"COMPOSE={script}",
            f"DOCKER={script}",
        ],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_up_stops_before_docker_on_a_busy_port_naming_the_variable_to_set(checkout):
    ports = spare_ports()
    script, calls = fake_compose(checkout, compose_model(ports))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports[3306]))
        busy.listen()
        out = make_up(checkout, script)
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.startswith("make up:")]
    assert len(lines) == 1, out.stderr
    assert f"port {ports[3306]} (127.0.0.1) for mysql is in use" in lines[0]
    assert "set MYSQL_HOST_PORT in .env to a free port, e.g. MYSQL_HOST_PORT=" in lines[0]
    asked = calls.read_text().splitlines()
    assert not any(c.startswith(("up", "build", "create", "start")) for c in asked), asked


def test_make_up_prints_the_published_ports_console_included(checkout):
    ports = spare_ports()
    script, calls = fake_compose(checkout, compose_model(ports))
    out = make_up(checkout, script)
    assert out.returncode == 0, out.stderr
    assert "up -d --build --wait" in calls.read_text()
    text = out.stdout
    assert f"MLflow UI   http://localhost:{ports[5000]}" in text
    assert f"API         http://localhost:{ports[8989]}/docs" in text
    assert f"JupyterLab  http://127.0.0.1:{ports[8888]}/lab" in text
    assert f"console http://127.0.0.1:{ports[9001]}" in text
    assert "9001" not in text.replace(str(ports[9001]), "")  # no hard-coded console port


def test_every_published_port_has_its_variable_in_the_compose_files():
    variables = preflight.port_variables(ROOT)
    assert variables == {
        3306: "MYSQL_HOST_PORT",
        5432: "POSTGRES_HOST_PORT",
        9000: "MINIO_HOST_PORT",
        9001: "MINIO_CONSOLE_HOST_PORT",
        5000: "MLFLOW_HOST_PORT",
        8989: "API_HOST_PORT",
        8888: "JUPYTER_HOST_PORT",
    } | {k: v for k, v in variables.items() if k not in SERVICES and k != 9001}


def test_ports_the_stack_itself_publishes_are_not_reported_as_busy():
    rows = preflight.published(
        compose_model({t: t for t in [3306, 5432, 9000, 9001, 5000, 8989, 8888]})
    )
    lines = preflight.busy_lines(rows, {}, ours={3306}, is_busy=lambda host, port: True)
    assert not any("port 3306 " in line for line in lines)
    assert len(lines) == len(rows) - 1


def test_own_ports_reads_compose_ps_json_lines_as_compose_2_40_prints_them(tmp_path):
    rows = [
        {"Name": "mysql", "Publishers": [{"PublishedPort": 13306, "TargetPort": 3306}]},
        {"Name": "api", "Publishers": [{"PublishedPort": 0, "TargetPort": 8989}]},
        {"Name": "mlflow", "Publishers": [{"PublishedPort": 15000, "TargetPort": 5000}]},
    ]
    fake = tmp_path / "compose"
    fake.write_text("#!/bin/sh\ncat <<'EOF'\n" + "\n".join(json.dumps(r) for r in rows) + "\nEOF\n")
    fake.chmod(0o755)
    assert preflight.own_ports([str(fake)]) == {13306, 15000}
