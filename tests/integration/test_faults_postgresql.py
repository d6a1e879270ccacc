"""PostgreSQL, MLflow's backend store, restarted twice while training runs.

The store is a private PostgreSQL cluster this test starts for itself (tests/support/pgcluster.py),
so stopping it disturbs no other test using the machine's shared cluster.
"""

import threading
import time

import mlflow
import pytest
from mlflow import MlflowClient

from taller_mlflow.training.tracking import register_and_promote
from taller_mlflow.training.trainer import train
from tests.support import wait_for
from tests.support.pgcluster import private_cluster
from tests.support.services import start_stack


@pytest.fixture
def private_pg_stack(tmp_path):
    """moto S3 + the MLflow server on a database of a private PostgreSQL cluster."""
    with private_cluster(keep_log_in=tmp_path) as cluster:
        stack = start_stack(tmp_path / "stack", pg_dsn=cluster.dsn, pg_url_base=cluster.url_base)
        try:
            yield stack, cluster
        finally:  # the cluster and its database are deleted whole: no DROP DATABASE needed
            stack.mlflow.stop()
            stack.s3.stop()


class Restarts:
    """Stops and starts of the cluster, run beside the training thread."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.threads: list[threading.Thread] = []

    def later(self, delay: float, action: str) -> None:
        def go():
            time.sleep(delay)
            self.cluster.pg_ctl(action)

        thread = threading.Thread(target=go, daemon=True)
        self.threads.append(thread)
        thread.start()

    def on_training_step(self, line: str) -> None:
        if line.startswith("[3/4]"):  # the grid search and its run logging start now
            self.later(1.0, "restart")
        elif line.startswith("[4/4]"):  # register_model, then the alias: down before they start
            self.join()  # the search's restart is over (it would start PostgreSQL again else)
            self.cluster.pg_ctl("stop")
            self.later(5.0, "start")

    def join(self) -> None:
        for thread in self.threads:
            thread.join(120)


def train_in_thread(stack, data_url: str, say) -> dict:
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = train(stack.settings(data_url, quick_grid=True), say=say)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    trainer = threading.Thread(target=run)
    trainer.start()
    trainer.join(600)
    assert not trainer.is_alive(), "training hung"
    return outcome


def _answers(client: MlflowClient) -> bool:
    try:
        client.search_registered_models(max_results=1)
        return True
    except Exception:  # noqa: BLE001 - polling
        return False


def test_postgresql_restarted_during_training_leaves_no_half_registered_version(
    private_pg_stack, penguins_mysql_url
):
    """Restart the backend store twice while training runs in a thread: once during the grid
    search (runs and metrics being logged), once around registration and promotion, which start
    with PostgreSQL stopped and meet it again 5 s later. Training rides both out: one complete,
    READY version, promoted."""
    stack, cluster = private_pg_stack
    restarts = Restarts(cluster)
    outcome = train_in_thread(stack, penguins_mysql_url, restarts.on_training_step)
    restarts.join()
    assert len(restarts.threads) == 2, f"PostgreSQL restarted {len(restarts.threads)} times"
    assert cluster.is_running()
    server_log = stack.mlflow.log_path.read_text(errors="replace")
    backend_errors = server_log.count("psycopg2.OperationalError")
    assert backend_errors, "the MLflow server never saw PostgreSQL go away: no fault injected"
    assert "result" in outcome, f"training did not survive the restarts: {outcome['error']!r}"
    result = outcome["result"]
    print(f"\ntraining survived 2 PostgreSQL restarts ({backend_errors} backend errors logged)")

    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    mlflow.set_tracking_uri(stack.tracking_uri)
    mlflow.set_registry_uri(stack.tracking_uri)
    assert wait_for(lambda: _answers(client), 60), "MLflow never answered after the restarts"
    versions = client.search_model_versions("name='modelo_penguins'")
    assert [v.version for v in versions] == [result.model_version]
    assert versions[0].status == "READY"
    assert mlflow.sklearn.load_model(f"models:/modelo_penguins/{result.model_version}") is not None
    production = client.get_model_version_by_alias("modelo_penguins", "production")
    assert production.version == result.model_version
    assert production.run_id == result.run_id
    run = client.get_run(result.run_id)  # the run itself is complete too
    assert run.info.status == "FINISHED"
    assert run.data.metrics["test_accuracy"] == pytest.approx(result.test_accuracy)
    children = client.search_runs(
        [result.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'"
    )
    assert len(children) == result.combinations
    # a retried registration reuses the run's version: no duplicate, alias unchanged
    again = register_and_promote(
        client, f"runs:/{result.run_id}/model", result.run_id, "modelo_penguins"
    )
    assert str(again.version) == result.model_version
    assert len(client.search_model_versions("name='modelo_penguins'")) == 1
