"""Prometheus in the stack: promtool checks the config and the rules and runs the rules' unit
tests (prometheus/alerts.test.yml); the compose model runs it on loopback with a healthcheck,
and the drift job beside it. promtool must be installed (Debian: apt-get install prometheus);
without it the test fails, naming the package."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from taller_mlflow.local.servers import ROOT
from tests.support.compose import compose, model

PROMETHEUS = ROOT / "prometheus"
REQUIRED_ALERTS = {
    "ModelDrift",
    "ModelAccuracyBelowHeldout",
    "ApiServerErrors",
    "ModelLoadFailures",
    "PredictionLogDropping",
    "TargetDown",
}


def promtool(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("promtool")
    if not exe:
        pytest.fail("promtool not found: apt-get install prometheus (Debian), or put it on PATH")
    return subprocess.run([exe, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)


def rules() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


@pytest.mark.parametrize(
    "args",
    [
        ("check", "config", "prometheus.yml"),
        ("check", "rules", "alerts.yml"),
        ("test", "rules", "alerts.test.yml"),
    ],
    ids=["check config", "check rules", "test rules"],
)
def test_promtool_accepts_config_and_rules_and_the_rules_tests_pass(args):
    out = promtool(*args)
    assert out.returncode == 0, f"promtool {' '.join(args)}:\n{out.stdout}\n{out.stderr}"


def test_scrapes_the_api_mlflow_and_the_drift_job_and_loads_the_rules():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in config["scrape_configs"]
    }
    assert targets["api"] == ["api:8989"]
    assert targets["monitor"] == ["monitor:9108"]
    # MLflow's counters without its login (its own /metrics answers admins only under basic auth)
    assert targets["mlflow"] == ["mlflow:9109"]
    assert config["rule_files"] == ["alerts.yml"]
    # ... which are there only when start_mlflow.sh is given a folder and that port for them
    mlflow = yaml.safe_load((ROOT / "docker-compose-mlflow.yaml").read_text())["services"]["mlflow"]
    assert mlflow["environment"]["MLFLOW_PROMETHEUS_DIR"]
    assert mlflow["environment"]["MLFLOW_METRICS_PORT"] == "9109"
    assert "9109" in mlflow["expose"] and all("9109" not in p for p in mlflow["ports"])
    # and no password of any kind in Prometheus's configuration
    assert "basic_auth" not in (PROMETHEUS / "prometheus.yml").read_text()


def test_alerts_cover_drift_5xx_load_failures_log_drops_and_targets_down():
    by_name = {rule["alert"]: rule["expr"] for rule in rules()}
    assert set(by_name) >= REQUIRED_ALERTS
    assert "model_drift_status" in by_name["ModelDrift"]
    assert 'status=~"5.."' in by_name["ApiServerErrors"]
    assert "api_model_load_failures_total" in by_name["ModelLoadFailures"]
    assert "increase(prediction_log_dropped_total" in by_name["PredictionLogDropping"]
    assert by_name["TargetDown"].strip() == "up == 0"


def test_every_metric_the_rules_use_is_defined_by_the_code():
    """A renamed metric would leave its alert silent forever: each name must be in the source."""
    source = "".join(
        p.read_text() for folder in ("app", "taller_mlflow") for p in (ROOT / folder).rglob("*.py")
    )
    used = set()
    for rule in rules():
        used |= set(re.findall(r"\b([a-z][a-z0-9_]*_(?:total|status))\b", rule["expr"]))
    assert used, "no metric found in the rules"
    missing = sorted(name for name in used if f'"{name}"' not in source)
    assert not missing, f"alert rules use metrics no code defines: {missing}"


def test_each_new_compose_file_is_valid_alone():
    for name in ["docker-compose-prometheus.yaml", "docker-compose-monitor.yaml"]:
        out = compose("-f", name, "config", "--quiet")
        assert out.returncode == 0, f"docker compose -f {name} config:\n{out.stderr}"


def test_prometheus_service_pinned_on_loopback_with_a_healthcheck_and_the_config():
    services = model()["services"]
    prom = services["prometheus"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", prom["image"])
    text = (ROOT / "docker-compose-prometheus.yaml").read_text()
    assert "image: ${PROMETHEUS_IMAGE:-prom/prometheus:v" in text
    assert prom["container_name"] == "mlflow_prometheus"
    assert [(p["host_ip"], p["published"], p["target"]) for p in prom["ports"]] == [
        ("127.0.0.1", "9090", 9090)
    ]
    assert prom["healthcheck"]["test"][:2] == ["CMD", "wget"]
    assert "/-/ready" in prom["healthcheck"]["test"][-1]
    mounts = {v["target"]: v for v in prom["volumes"]}
    assert Path(mounts["/etc/prometheus"]["source"]) == PROMETHEUS
    assert mounts["/etc/prometheus"]["read_only"] is True
    assert mounts["/prometheus"]["type"] == "volume"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    assert "mi_red_compartida" in prom["networks"]
    assert prom["restart"] == "unless-stopped"


def test_monitor_service_reads_the_log_database_and_writes_to_mlflow():
    services = model()["services"]
    monitor = services["monitor"]
    env = monitor["environment"]
    assert monitor["command"] == ["python", "-m", "taller_mlflow.monitor"]
    # The training stack's image (MLflow, SciPy): the API's holds neither. Same package and pins.
    assert monitor["image"] == "taller_mlflow/train:local" != services["api"]["image"]
    assert monitor["build"]["dockerfile"] == "train/Dockerfile"
    assert env["PREDICTION_LOG_URL"].startswith("postgresql+psycopg2://monitoring:")
    assert env["PREDICTION_LOG_URL"].endswith("@postgres:5432/monitoring")
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["TALLER_MONITOR_INTERVAL_SECONDS"] == "600"
    assert env["TALLER_MONITOR_METRICS_PORT"] == "9108"
    assert not monitor.get("ports"), "the drift job's metrics stay on the compose network"
    assert "9108/metrics" in " ".join(monitor["healthcheck"]["test"])
    assert monitor["depends_on"]["mlflow"]["condition"] == "service_healthy"
    assert monitor["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert not any(k.startswith("AWS_") for k in env), "clients hold no S3 keys"
