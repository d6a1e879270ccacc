"""The systemd unit that runs the MLflow server on a host: its keys, and `systemd-analyze verify`
(which must be installed)."""

import configparser
import re
import shutil
import subprocess

import pytest

from taller_mlflow.local.servers import ROOT

UNIT = ROOT / "mlflow_serv.service"


def test_systemd_unit_keys():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(UNIT.read_text())
    assert parser.has_section("Unit") and parser["Unit"].get("Description")
    service = parser["Service"]
    assert service.get("ExecStart", "").endswith("mlflow/start_mlflow.sh")
    assert service.get("EnvironmentFile", "").lstrip("-").endswith("/.env")
    assert service.get("Restart") == "on-failure"
    assert parser["Install"].get("WantedBy") == "multi-user.target"


def test_systemd_analyze_verify_accepts_the_unit():
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.fail("no systemd-analyze on PATH: apt-get install systemd")
    out = subprocess.run([analyze, "verify", str(UNIT)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


@pytest.mark.security
def test_the_unit_runs_mlflow_with_auth_on_loopback_and_makes_its_users():
    """Closed by default (issue 19): the unit's own defaults, which .env may change (systemd applies
    EnvironmentFile= over Environment=), and start_mlflow.sh still refuses auth off beyond
    loopback."""
    text = UNIT.read_text()
    environment = dict(re.findall(r"^Environment=(\w+)=(.*)$", text, re.M))
    assert environment["MLFLOW_AUTH"] == "true"
    assert environment["MLFLOW_HOST"] == "127.0.0.1"
    assert environment["MLFLOW_AUTH_DATABASE_URI"].startswith("sqlite:////var/lib/mlflow_serv/")
    post = re.search(r"^ExecStartPost=(.*)$", text, re.M)
    assert post and post[1].endswith("/mlflow/init_users.py"), "the users are made after the start"
