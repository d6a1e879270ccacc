"""Training against a real MLflow server (started by mlflow/start_mlflow.sh), PostgreSQL and S3."""

import json
import subprocess
import sys
import textwrap

import pytest
from mlflow import MlflowClient

from taller_mlflow.mlflow_setup import without_s3_credentials
from taller_mlflow.serving.artifacts import ArtifactLoader
from taller_mlflow.serving.mlflow_rest import MlflowRest
from taller_mlflow.training.data import read_penguins
from taller_mlflow.training.model import split
from taller_mlflow.training.trainer import train
from tests.support.services import BUCKET, start_stack

MODEL = "modelo_penguins"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, penguins_mysql_url):
    stack = start_stack(tmp_path_factory.mktemp("training"))
    result = train(stack.settings(penguins_mysql_url), say=lambda _: None)
    yield stack, result
    stack.close()


def test_training_logs_one_parent_and_exactly_27_child_runs(trained):
    stack, result = trained
    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    runs = client.search_runs([result.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.run_id]
    assert [p.info.run_id for p in parents] == [result.run_id]
    assert len(children) == 27 == len(runs) - 1
    combos = {
        (
            c.data.params["classifier__n_estimators"],
            c.data.params["classifier__max_depth"],
            c.data.params["classifier__min_samples_split"],
        )
        for c in children
    }
    assert len(combos) == 27
    assert all("mean_test_score" in c.data.metrics for c in children)
    parent = parents[0]
    assert parent.data.metrics["test_accuracy"] == pytest.approx(result.test_accuracy)
    assert "test_f1_macro" in parent.data.metrics
    artifacts = [a.path for a in client.list_artifacts(result.run_id)]
    assert "confusion_matrix.png" in artifacts


def test_best_estimator_is_registered_and_promoted_to_production(trained):
    stack, result = trained
    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    version = client.get_model_version_by_alias("modelo_penguins", "production")
    assert version.version == result.model_version
    assert version.current_stage == "Production"
    assert version.run_id == result.run_id
    from mlflow.models import get_model_info

    info = get_model_info("models:/modelo_penguins@production")
    assert info.signature is not None
    assert {c.name for c in info.signature.inputs} >= {"island", "sex", "body_mass_g"}
    assert info.flavors["sklearn"]["serialization_format"] == "cloudpickle"
    assert info.saved_input_example_info is not None


def test_the_live_version_has_the_serving_artifact_the_api_loads(trained):
    """The gate logged it while training promoted the version: no extra step."""
    stack, result = trained
    served = ArtifactLoader(MlflowRest(stack.tracking_uri))(MODEL, result.model_version)
    parity = served.manifest.parity
    assert served.run_id == result.run_id and parity.rows == 100 + 351
    graph = MlflowRest(stack.tracking_uri).download_run_artifact(
        result.run_id, f"serving/modelo_penguins/v{result.model_version}/model.onnx"
    )
    print(
        f"best of the full grid ({result.best_params}): {parity.rows} rows compared, max abs "
        f"diff {parity.max_abs_diff:.2e}, graph {len(graph)} bytes, manifest "
        f"{len(served.manifest.to_json())} bytes, loaded in {served.load_seconds:.3f} s",
        file=sys.__stdout__,
    )


def test_model_artifacts_are_in_the_s3_bucket(trained):
    stack, _ = trained
    keys = stack.bucket_keys()
    assert any(k.endswith("MLmodel") for k in keys), keys[:20]
    assert any(k.endswith("model.pkl") for k in keys)
    assert any(k.endswith("confusion_matrix.png") for k in keys)
    assert BUCKET == "mlflows3"


def test_production_model_loads_in_fresh_process_without_s3_credentials(
    trained, penguins_mysql_url
):
    stack, _ = trained
    script = textwrap.dedent(
        f"""
        import json, os, mlflow
        from sklearn.metrics import accuracy_score
        from taller_mlflow.training.data import read_penguins
        from taller_mlflow.training.model import split
        assert not any(k.startswith("AWS_") for k in os.environ)
        mlflow.set_tracking_uri("{stack.tracking_uri}")
        model = mlflow.sklearn.load_model("models:/modelo_penguins@production")
        _, x_test, _, y_test = split(read_penguins("{penguins_mysql_url}").frame)
        print(json.dumps({{"accuracy": accuracy_score(y_test, model.predict(x_test))}}))
        """
    )
    env = without_s3_credentials()
    env["HOME"] = str(stack.workdir)  # no ~/.aws either
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    accuracy = json.loads(out.stdout.strip().splitlines()[-1])["accuracy"]
    assert accuracy >= 0.95


def test_summary_names_run_params_scores_and_version(trained):
    _, result = trained
    text = result.summary()
    for needle in [result.run_id, "n_estimators=", "cv accuracy", "test accuracy", "version 1"]:
        assert needle in text
    assert result.rows_used == 333 and result.rows_dropped == 11


def test_second_training_adds_a_version_and_moves_the_alias(trained, penguins_mysql_url):
    stack, first = trained
    second = train(stack.settings(penguins_mysql_url, quick_grid=True), say=lambda _: None)
    assert int(second.model_version) == int(first.model_version) + 1
    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    assert client.get_model_version_by_alias("modelo_penguins", "production").version == (
        second.model_version
    )
    stages = {
        v.version: v.current_stage for v in client.search_model_versions("name='modelo_penguins'")
    }
    assert stages[second.model_version] == "Production"
    assert stages[first.model_version] == "Archived"
    _, x_test, _, _ = split(read_penguins(penguins_mysql_url).frame)
    assert len(x_test) == 100
