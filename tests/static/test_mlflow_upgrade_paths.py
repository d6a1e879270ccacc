"""Every way this project starts an MLflow server goes through mlflow/start_mlflow.sh, which runs
`mlflow db upgrade` (mlflow/db_upgrade.py, under a lock) before it serves: the image (compose and
Swarm), the host unit and `make run`. Kubernetes keeps its own migration Job."""

from pathlib import Path

import yaml

from taller_mlflow.local.servers import START_MLFLOW, mlflow_server

ROOT = Path(__file__).resolve().parents[2]


def test_start_mlflow_upgrades_the_schema_before_it_serves():
    script = START_MLFLOW.read_text()
    upgrade = script.index('"$here/db_upgrade.py"')
    assert upgrade < script.index('exec "$MLFLOW_BIN" "${args[@]}"')


def test_the_image_starts_through_start_mlflow_and_ships_the_upgrade_helper():
    dockerfile = (ROOT / "mlflow" / "Dockerfile").read_text()
    lines = dockerfile.splitlines()
    copy = next(line for line in lines if line.startswith("COPY mlflow/start_mlflow.sh"))
    assert "mlflow/db_upgrade.py" in copy.split()
    assert 'ENTRYPOINT ["bash", "/usr/local/bin/start_mlflow.sh"]' in dockerfile


def test_compose_and_swarm_run_the_image_without_replacing_its_entry_point():
    for path in ["docker-compose-mlflow.yaml", "deploy/swarm/stack.yaml"]:
        service = yaml.safe_load((ROOT / path).read_text())["services"]["mlflow"]
        assert "mlflow-server" in service["image"], path
        assert "entrypoint" not in service and "command" not in service, path


def test_the_host_unit_and_make_run_start_start_mlflow():
    unit = (ROOT / "mlflow_serv.service").read_text()
    assert "ExecStart=/bin/bash /opt/taller_mlflow/mlflow/start_mlflow.sh" in unit.splitlines()
    server = mlflow_server("sqlite:///x.db", "/tmp/artifacts", 5999)
    assert server.cmd == ["bash", str(START_MLFLOW)]
