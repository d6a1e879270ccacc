"""MonitorTracking, the monitoring job's REST client: the requests it makes (captured in place of
the transport), its refusals, and that the job's modules leave MLflow's package unimported."""

import json
import subprocess
import sys

import orjson
import pytest
from tenacity import wait_none

from taller_mlflow.monitoring.monitor_rest import Metric, MonitorTracking, Param, RunTag
from taller_mlflow.serving.mlflow_rest import MlflowRestError, Response
from taller_mlflow.serving.problems import RegistryUnavailable


class Captured(MonitorTracking):
    """The real client with its transport replaced: every request is kept and answered, after
    the failures queued in `failures` (raised one per request, first)."""

    retry_wait = wait_none()

    def __init__(self, answers: dict[str, dict] | None = None, failures=()):
        super().__init__("http://mlflow:5000")
        self.sent, self.answers, self.failures = [], answers or {}, list(failures)

    def request(self, method, path, what, *, params=None, json=None, data=None, mime=None):
        self.sent.append((method, path, params, json, data, mime))
        if self.failures:
            raise self.failures.pop(0)
        return Response(200, orjson.dumps(self.answers.get(path, {})))


RUN = {"run": {"info": {"run_id": "r1", "artifact_uri": "mlflow-artifacts:/7/r1/artifacts"}}}


def test_a_run_is_created_and_its_files_go_through_the_artifact_proxy():
    client = Captured({"/api/2.0/mlflow/runs/create": RUN})
    run = client.create_run("7", run_name="drift v1", tags={"model_version": 1})
    client.log_dict(run.info.run_id, {"status": "ok"}, "drift_report.json")
    (_, _, _, created, _, _), (method, path, _, _, data, mime) = client.sent
    assert created["experiment_id"] == "7" and created["run_name"] == "drift v1"
    assert created["tags"] == [{"key": "model_version", "value": "1"}]
    assert (method, path) == (
        "PUT",
        "/api/2.0/mlflow-artifacts/artifacts/7/r1/artifacts/drift_report.json",
    )
    assert json.loads(data) == {"status": "ok"} and mime == "application/json"


def test_a_figure_is_uploaded_as_png():
    from matplotlib.figure import Figure

    client = Captured({"/api/2.0/mlflow/runs/create": RUN})
    client.create_run("7")
    client.log_figure("r1", Figure(), "drift_report.png")
    _, _, _, _, data, mime = client.sent[-1]
    assert data.startswith(b"\x89PNG") and mime == "image/png"


def test_a_server_that_does_not_proxy_artifacts_is_named_in_the_error():
    local = {"run": {"info": {"run_id": "r1", "artifact_uri": "/srv/mlruns/7/r1/artifacts"}}}
    client = Captured({"/api/2.0/mlflow/runs/create": local})
    client.create_run("7")
    with pytest.raises(RegistryUnavailable, match="does not proxy artifacts.*--serve-artifacts"):
        client.log_dict("r1", {}, "x.json")


def test_metrics_that_json_cannot_carry_are_sent_as_mlflows_strings():
    client = Captured()
    metrics = [Metric(k, v, 5) for k, v in [("a", 0.5), ("b", float("nan")), ("c", float("-inf"))]]
    client.log_batch("r1", metrics, [Param("p", "1")], [RunTag("t", "x")])
    body = client.sent[0][3]
    assert [m["value"] for m in body["metrics"]] == [0.5, "NaN", "-Infinity"]
    assert body["params"] == [{"key": "p", "value": "1"}] and body["tags"] == [
        {"key": "t", "value": "x"}
    ]


AWAY = RegistryUnavailable("MLflow at http://mlflow:5000: connection refused")


def test_a_repeatable_write_is_retried_while_the_server_is_away():
    client = Captured(failures=[AWAY, MlflowRestError("busy", 503)])
    client.set_model_version_tag("m", "1", "drift.status", "ok")
    assert len(client.sent) == 3  # two failures, then the tag


def test_a_write_gives_up_after_three_attempts_with_the_servers_error():
    client = Captured(failures=[AWAY] * 3)
    with pytest.raises(RegistryUnavailable, match="connection refused"):
        client.set_terminated("r1")
    assert len(client.sent) == 3


def test_a_refusal_and_creating_a_run_are_not_retried():
    refused = Captured(failures=[MlflowRestError("refused the API's credentials (403)", 403)])
    with pytest.raises(MlflowRestError, match="403"):
        refused.set_model_version_tag("m", "1", "k", "v")
    away = Captured(failures=[AWAY])
    with pytest.raises(RegistryUnavailable):  # a retry could make a second run
        away.create_run("7")
    assert len(refused.sent) == len(away.sent) == 1


def test_a_tracking_uri_that_is_not_a_server_is_refused():
    with pytest.raises(ValueError, match="needs an MLflow server URL, not 'sqlite:///mlflow.db'"):
        MonitorTracking("sqlite:///mlflow.db")


def test_a_monitor_pass_without_labels_imports_neither_mlflow_nor_pandas(tmp_path):
    """The drift job's memory is its window's (bench/drift_probe.py): a pass of the real command
    over a log with no label leaves both packages unimported; the quality check, once labels
    exist, brings pandas but still not MLflow."""
    log_url = f"sqlite:///{tmp_path / 'monitoring.db'}"
    code = (
        "import sys\n"
        "from taller_mlflow.monitoring import monitor_cli\n"
        f"code = monitor_cli.main(['--once', '--log-url', {log_url!r},"
        " '--tracking-uri', 'http://127.0.0.1:9'])\n"
        "passed = [code, sorted(m for m in ('mlflow', 'pandas', 'sklearn') if m in sys.modules)]\n"
        "import taller_mlflow.monitoring.quality_job\n"
        "print(passed, 'mlflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[0, []] False"
