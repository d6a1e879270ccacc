"""JupyterLab under `make run`: its REST API starts a kernel and every cell of
JupyterLab/mlflow_pipeline.ipynb runs through the server with the notebook's own defaults (no
papermill, no parameters), which registers a new version of the model."""

import psutil
import pytest
import requests

from taller_mlflow.local.servers import NOTEBOOK
from tests.support.jupyter_kernel import JupyterServer

pytestmark = pytest.mark.timeout(2400)

CELL_TIMEOUT = 1200  # the cell that runs the 27-combination search, on a loaded 2-core machine


def latest_version(mlflow: str) -> int:
    resp = requests.get(
        f"{mlflow}/api/2.0/mlflow/registered-models/get",
        params={"name": "modelo_penguins"},
        timeout=30,
    )
    resp.raise_for_status()
    return max(int(v["version"]) for v in resp.json()["registered_model"]["latest_versions"])


def production_version(mlflow: str) -> int:
    resp = requests.get(
        f"{mlflow}/api/2.0/mlflow/registered-models/alias",
        params={"name": "modelo_penguins", "alias": "production"},
        timeout=30,
    )
    resp.raise_for_status()
    return int(resp.json()["model_version"]["version"])


def test_jupyter_listens_on_loopback_only_and_asks_for_the_token(make_run):
    assert requests.get(f"{make_run.jupyter}/api/contents", timeout=30).status_code == 403
    server = JupyterServer(make_run.jupyter, make_run.token)
    listing = server.get("/api/contents/JupyterLab")
    assert "mlflow_pipeline.ipynb" in {item["name"] for item in listing["content"]}
    command = psutil.Process(make_run.server_pid("jupyterlab")).cmdline()
    assert "--ip=127.0.0.1" in command


def test_every_cell_of_the_notebook_runs_through_jupyter_and_registers_a_new_version(make_run):
    before = latest_version(make_run.mlflow)
    server = JupyterServer(make_run.jupyter, make_run.token)
    results = server.run_notebook(NOTEBOOK, CELL_TIMEOUT)
    code_cells = [
        c for c in server.notebook(NOTEBOOK)["content"]["cells"] if c["cell_type"] == "code"
    ]
    failed = [r for r in results if r.status != "ok"]
    assert not failed, f"cell {failed[0].index}: {failed[0].status} {failed[0].error}"
    assert len(results) == len(code_cells)
    output = "".join(r.text for r in results)
    assert f"MLflow: {make_run.mlflow}" in output  # the embedded server, from the defaults
    assert "27 child runs" in output
    assert latest_version(make_run.mlflow) == before + 1
    assert production_version(make_run.mlflow) == before + 1
