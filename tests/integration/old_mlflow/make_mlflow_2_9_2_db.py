"""Made tests/integration/old_mlflow/mlflow-2.9.2.db, once, with an older MLflow pin (2.9.2):

    python3.11 -m venv /tmp/mlflow2 && /tmp/mlflow2/bin/pip install mlflow==2.9.2 sqlalchemy==2.0.25
    cd tests/integration/old_mlflow && /tmp/mlflow2/bin/python make_mlflow_2_9_2_db.py

(SQLAlchemy 2.0: MLflow 2.9.2 does not import under 2.1.) Not run by the tests: they upgrade a
copy of the file it wrote (tests/integration/test_mlflow_db_upgrade.py).
"""

import mlflow
from mlflow import MlflowClient

URI = "sqlite:///mlflow-2.9.2.db"


def main() -> None:
    client = MlflowClient(tracking_uri=URI, registry_uri=URI)
    exp = client.create_experiment("mlflow_penguins_vf", artifact_location="s3://mlflows3/1")
    runs = []
    for i, (n, acc) in enumerate([(50, 0.97), (100, 0.99)]):
        run = client.create_run(exp, run_name=f"grid_{i}", tags={"stage": "grid"})
        client.log_param(run.info.run_id, "n_estimators", n)
        client.log_metric(run.info.run_id, "test_accuracy", acc)
        client.set_terminated(run.info.run_id)
        runs.append(run.info.run_id)
    client.create_registered_model("modelo_penguins", tags={"owner": "taller"})
    for run_id in runs:
        mv = client.create_model_version(
            "modelo_penguins", f"s3://mlflows3/1/{run_id}/artifacts/model", run_id=run_id
        )
        client.set_model_version_tag("modelo_penguins", mv.version, "test_accuracy", "0.99")
    client.set_model_version_tag("modelo_penguins", "2", "promotion.previous_version", "1")
    client.set_registered_model_alias("modelo_penguins", "production", "2")
    print(mlflow.__version__, runs)


if __name__ == "__main__":
    main()
