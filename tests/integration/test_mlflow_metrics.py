"""The MLflow server's /metrics, as Prometheus scrapes it in the stack: mlflow/start_mlflow.sh
with MLFLOW_PROMETHEUS_DIR runs the real server with --expose-prometheus (2 workers sharing
their counters through that folder), and a stale counter file from an earlier start is removed."""

import requests
from prometheus_client.parser import text_string_to_metric_families

from taller_mlflow.local.servers import free_port, mlflow_server


def requests_counted(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "mlflow_http_request_total"
    )


def test_mlflow_exposes_request_metrics_for_every_worker(tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left by a previous start")
    port = free_port()
    server = mlflow_server(
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        str(tmp_path / "artifacts"),
        port,
        tmp_path / "mlflow.log",
        extra_env={"MLFLOW_PROMETHEUS_DIR": str(metrics_dir)},
    )
    server.start()
    try:
        base = f"http://127.0.0.1:{port}"
        assert not (metrics_dir / "counter_999999.db").exists()
        before = requests_counted(requests.get(f"{base}/metrics", timeout=10).text)
        for _ in range(20):  # spread over both workers by the kernel
            search = requests.post(
                f"{base}/api/2.0/mlflow/experiments/search", json={"max_results": 1}, timeout=10
            )
            assert search.status_code == 200, search.text
        # Prometheus sends its target's name as the Host header: the stack's allowed hosts
        # include mlflow:5000.
        scrape = requests.get(f"{base}/metrics", headers={"Host": "mlflow:5000"}, timeout=10)
        assert scrape.status_code == 200, scrape.text[:300]
        assert requests_counted(scrape.text) - before >= 20
    finally:
        server.stop()
