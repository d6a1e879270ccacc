"""MLflow's request counters for Prometheus, on a port of their own, without a login.

MLflow's --expose-prometheus puts the counters on the server's /metrics, and under basic auth the
auth app lets only admins read it (it fails closed on routes it has no rule for), so a Prometheus
would need the admin's password. start_mlflow.sh starts this beside the server when
MLFLOW_METRICS_PORT is set: it serves the same counters, read from the workers' shared folder
(MLFLOW_PROMETHEUS_DIR, prometheus_client's multiprocess mode), and nothing else: request counts
and latencies by method, path and status, no run, model or user. Keep the port inside the private
network (compose `expose`, never `ports`).
"""

import os
import time

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector


def main() -> None:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=os.environ["MLFLOW_PROMETHEUS_DIR"])
    port = int(os.environ["MLFLOW_METRICS_PORT"])
    start_http_server(
        port, addr=os.environ.get("MLFLOW_METRICS_HOST", "0.0.0.0"), registry=registry
    )
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
