"""The notebook runs headless (papermill) against real services, and agrees with the CLI.

The notebook makes MLflow's calls itself (autologging, the run, the fit, log_model,
register_model, then the gate moves the alias); the CLI makes the same ones batched
(taller_mlflow.training.runlog). Run on the same data with the same seed, both must find the same
best parameters, log the same 27 child runs and register the same model.
"""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import papermill
import pytest
import yaml
from mlflow import MlflowClient

from taller_mlflow.local.servers import ROOT
from taller_mlflow.serving.manifest import SHA256_TAG
from taller_mlflow.training.data import read_penguins
from taller_mlflow.training.model import PARAM_GRID, split
from tests.support.services import start_stack

NOTEBOOK = ROOT / "JupyterLab" / "mlflow_pipeline.ipynb"
MODEL = "modelo_penguins"
SEED = 7  # not the default: both must really take the seed they are given
GRID_PARAMS = sorted(PARAM_GRID)
CV_SCORES = ("mean_test_score", "std_test_score", "rank_test_score")
# MLmodel keys that name the run, the logged model or the time, which differ between two runs.
RUN_SPECIFIC = {"run_id", "model_id", "model_uuid", "utc_time_created", "artifact_path"}


def run_notebook(tracking_uri: str, data_url: str, output: Path, **parameters) -> str:
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(output),
        parameters={"tracking_uri": tracking_uri, "data_url": data_url, **parameters},
        kernel_name="python3",
        cwd=str(output.parent),
        progress_bar=False,
    )
    return output.read_text()


def test_notebook_runs_headless_and_registers_a_production_version(
    stack, penguins_mysql_url, tmp_path
):
    text = run_notebook(stack.tracking_uri, penguins_mysql_url, tmp_path / "out.ipynb", quick=True)
    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    version = client.get_model_version_by_alias(MODEL, "production")
    assert version.version == "1" and version.current_stage == "Production"
    run = client.get_run(version.run_id)
    assert run.data.metrics["test_accuracy"] >= 0.95
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{version.run_id}'"
    )
    assert len(children) == 2  # the quick grid
    assert "2 child runs" in text
    assert any(k.endswith("MLmodel") for k in stack.bucket_keys())


@dataclass(frozen=True)
class Both:
    stack: object
    cli: dict  # the CLI's --json result
    notebook_run: str  # the notebook's parent run
    data_url: str


@pytest.fixture(scope="module")
def both(tmp_path_factory, penguins_mysql_url):
    """The CLI, then the notebook, on one MLflow server, the same data and seed."""
    workdir = tmp_path_factory.mktemp("notebook_vs_cli")
    stack = start_stack(workdir / "stack")
    try:
        cli = subprocess.run(
            [sys.executable, "-m", "taller_mlflow.train", "--json"]
            + ["--data-url", penguins_mysql_url, "--tracking-uri", stack.tracking_uri],
            env={**os.environ, "TALLER_SEED": str(SEED)},
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert cli.returncode == 0, cli.stderr[-3000:]
        result = json.loads(cli.stdout.splitlines()[-1])
        run_notebook(stack.tracking_uri, penguins_mysql_url, workdir / "out.ipynb", seed=SEED)
        client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
        parents = client.search_runs(
            [result["experiment_id"]], "tags.mlflow.runName = 'grid_search'"
        )
        notebook_run = next(r.info.run_id for r in parents if r.info.run_id != result["run_id"])
        yield Both(stack, result, notebook_run, penguins_mysql_url)
    finally:
        stack.close()


def children_scores(client, experiment_id: str, parent_id: str) -> dict:
    """{(grid params): (mean, std, rank) of the CV scores} of the parent's child runs."""
    runs = client.search_runs(
        [experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'", max_results=1000
    )
    return {
        tuple(r.data.params[p] for p in GRID_PARAMS): tuple(r.data.metrics[m] for m in CV_SCORES)
        for r in runs
    }


def test_notebook_and_cli_find_the_same_best_parameters(both):
    run = MlflowClient(both.stack.tracking_uri).get_run(both.notebook_run)
    assert {k: run.data.params[f"best_{k}"] for k in GRID_PARAMS} == {
        k: str(v) for k, v in both.cli["best_params"].items()
    }
    assert run.data.metrics["best_cv_score"] == pytest.approx(both.cli["cv_score"], abs=1e-12)
    assert run.data.metrics["test_accuracy"] == pytest.approx(both.cli["test_accuracy"], abs=1e-12)


def test_notebook_and_cli_log_the_same_27_child_runs(both):
    client = MlflowClient(both.stack.tracking_uri)
    experiment = both.cli["experiment_id"]
    cli = children_scores(client, experiment, both.cli["run_id"])
    notebook = children_scores(client, experiment, both.notebook_run)
    assert len(cli) == 27 and cli.keys() == notebook.keys()
    for combination, scores in cli.items():
        assert notebook[combination] == pytest.approx(scores, abs=1e-12), combination


def model_files(tracking_uri: str, version: str, into: Path) -> Path:
    # models:/ URIs follow the process's registry URI, which an earlier test in this worker may
    # have pointed at its own (stopped) server: set both.
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return Path(
        mlflow.artifacts.download_artifacts(f"models:/{MODEL}/{version}", dst_path=str(into))
    )


def test_notebook_and_cli_register_the_same_model(both, tmp_path):
    uri = both.stack.tracking_uri
    client = MlflowClient(uri, registry_uri=uri)
    cli_version = client.get_model_version(MODEL, both.cli["model_version"])
    [notebook_version] = client.search_model_versions(
        f"name='{MODEL}' and run_id='{both.notebook_run}'"
    )
    cli_dir = model_files(uri, cli_version.version, tmp_path / "cli")
    nb_dir = model_files(uri, notebook_version.version, tmp_path / "notebook")

    def files(root):
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    assert files(cli_dir) == files(nb_dir)
    for name in files(cli_dir):
        if name == "MLmodel":
            ours, theirs = (yaml.safe_load((d / name).read_text()) for d in (cli_dir, nb_dir))
            for key in RUN_SPECIFIC:
                ours.pop(key, None), theirs.pop(key, None)
            assert ours == theirs
        elif name == "registered_model_meta":  # the same model, two versions of it
            ours, theirs = (yaml.safe_load((d / name).read_text()) for d in (cli_dir, nb_dir))
            assert ours["model_name"] == theirs["model_name"] == MODEL
        elif name != "model.pkl":  # pickles of equal forests need not be equal bytes
            assert (cli_dir / name).read_bytes() == (nb_dir / name).read_bytes(), name
    _, x_test, _, _ = split(read_penguins(both.data_url).frame, 0.3, SEED)
    cli_model = mlflow.sklearn.load_model(str(cli_dir))
    nb_model = mlflow.sklearn.load_model(str(nb_dir))
    assert np.array_equal(cli_model.predict_proba(x_test), nb_model.predict_proba(x_test))
    # The gate verified and logged both versions' ONNX graphs: the very same bytes.
    assert cli_version.tags[SHA256_TAG] == notebook_version.tags[SHA256_TAG]
    assert cli_version.tags["test_accuracy"] == notebook_version.tags["test_accuracy"]
    # As good as production, so the gate moved @production to the notebook's version.
    live = client.get_model_version_by_alias(MODEL, "production")
    assert live.version == notebook_version.version != cli_version.version
