"""MLflow's schema upgraded before the server starts (mlflow/db_upgrade.py, which
mlflow/start_mlflow.sh runs first on every path: compose, the host unit, Swarm, `make run`).

- An older pin's database: tests/integration/old_mlflow/mlflow-2.9.2.db was written once by MLflow
  2.9.2 (alembic revision acf3f17fdcc7) with tests/integration/old_mlflow/make_mlflow_2_9_2_db.py,
  whose docstring has the exact commands (a throwaway venv with `pip install mlflow==2.9.2
  sqlalchemy==2.0.25`). Two runs with a param, a metric and tags; the registered model
  `modelo_penguins` with two versions, their tags and `@production` on version 2. After the
  upgrade, the installed MLflow reads every row back.
- Two servers starting together on one empty PostgreSQL database: both upgrades succeed and the
  tables are created once, because each waits for the other's advisory lock.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from mlflow import MlflowClient
from mlflow.store.db.utils import _get_latest_schema_revision

from tests.support.services import PG_URL_BASE, create_pg_database, drop_pg_database

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "mlflow" / "db_upgrade.py"
OLD_DB = Path(__file__).parent / "old_mlflow" / "mlflow-2.9.2.db"
OLD_REVISION = "acf3f17fdcc7"


def upgrade(url: str) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": url}
    return subprocess.Popen(
        [sys.executable, str(HELPER)], env=env, stderr=subprocess.PIPE, text=True
    )


def revision(url: str) -> str:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    return found


def test_an_older_pins_database_is_upgraded_and_keeps_its_runs_and_registry(tmp_path):
    copy = tmp_path / "mlflow.db"
    shutil.copy(OLD_DB, copy)
    url = f"sqlite:///{copy}"
    assert revision(url) == OLD_REVISION  # nothing of this MLflow's has opened it yet

    proc = upgrade(url)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    head = _get_latest_schema_revision()
    assert revision(url) == head and f"schema at {head}" in err
    assert "Updating database tables" in err  # migrated by the helper, not by the reads below

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    (experiment,) = [e for e in client.search_experiments() if e.name == "mlflow_penguins_vf"]
    runs = client.search_runs([experiment.experiment_id], order_by=["params.n_estimators"])
    assert [r.data.params["n_estimators"] for r in runs] == ["100", "50"]
    assert sorted(r.data.metrics["test_accuracy"] for r in runs) == [0.97, 0.99]
    assert {r.info.run_name for r in runs} == {"grid_0", "grid_1"}
    assert all(r.data.tags["stage"] == "grid" and r.info.status == "FINISHED" for r in runs)
    model = client.get_registered_model("modelo_penguins")
    assert model.aliases == {"production": 2} and model.tags == {"owner": "taller"}
    versions = {str(v.version): v for v in client.search_model_versions("name='modelo_penguins'")}
    assert sorted(versions) == ["1", "2"]
    assert {v.run_id for v in versions.values()} == {r.info.run_id for r in runs}
    assert client.get_model_version("modelo_penguins", "2").tags == {
        "test_accuracy": "0.99",
        "promotion.previous_version": "1",
    }


def test_two_servers_upgrading_one_empty_postgresql_database_at_once_create_it_once():
    database = create_pg_database(prefix="mlflow_upgrade")
    url = f"{PG_URL_BASE}/{database}"
    try:
        procs = [upgrade(url), upgrade(url)]
        errs = [proc.communicate(timeout=300)[1] for proc in procs]
        assert [proc.returncode for proc in procs] == [0, 0], errs
        assert revision(url) == _get_latest_schema_revision()
        created = sum(err.count("Creating initial MLflow database tables") for err in errs)
        assert created == 1, errs
    finally:
        drop_pg_database(database)
