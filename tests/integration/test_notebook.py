"""The notebook runs headless (papermill) against real services and registers a version."""

import papermill
from mlflow import MlflowClient

from taller_mlflow.local.servers import ROOT


def test_notebook_runs_headless_and_registers_a_production_version(
    stack, penguins_mysql_url, tmp_path
):
    output = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(ROOT / "JupyterLab" / "mlflow_pipeline.ipynb"),
        str(output),
        parameters={
            "tracking_uri": stack.tracking_uri,
            "data_url": penguins_mysql_url,
            "quick": True,
        },
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    version = client.get_model_version_by_alias("modelo_penguins", "production")
    assert version.version == "1" and version.current_stage == "Production"
    run = client.get_run(version.run_id)
    assert run.data.metrics["test_accuracy"] >= 0.95
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{version.run_id}'"
    )
    assert len(children) == 2  # the quick grid
    assert "child runs" in output.read_text()
    assert any(k.endswith("MLmodel") for k in stack.bucket_keys())
