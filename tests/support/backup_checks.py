"""What the backup round trips compare: MLflow's runs, versions (tags, aliases) and every
version's artifacts (sha256), and the prediction log's rows; and a log filled with rows."""

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import sqlalchemy as sa
from mlflow import MlflowClient

from taller_mlflow.monitoring.schema import create_schema, prediction_log
from tests.support.promotion import MODEL


def fill_log(url: str, rows: int) -> None:
    engine = sa.create_engine(url)
    create_schema(engine)
    row = dict(
        ts=datetime.now(UTC), request_id="r", endpoint="/predict", model_name=MODEL,
        model_version="1", model_alias="production", island="Biscoe", culmen_length_mm=40.0,
        culmen_depth_mm=18.0, flipper_length_mm=190.0, body_mass_g=3800.0, sex="MALE",
        prediction="Adelie", probabilities={"Adelie": 1.0}, latency_ms=1.0,
    )  # fmt: skip
    with engine.begin() as conn:
        conn.execute(prediction_log.insert(), [row] * rows)
    engine.dispose()


def log_rows(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(prediction_log)).scalar()
    engine.dispose()
    return count


def registry_state(client: MlflowClient) -> dict:
    """Runs, versions with their tags and aliases, as comparable values."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = {
        r.info.run_id: r.data.tags.get("mlflow.runName") for r in client.search_runs(experiments)
    }
    versions = {
        mv.version: (mv.run_id, mv.source, dict(mv.tags), sorted(mv.aliases))
        for mv in client.search_model_versions(f"name='{MODEL}'")
    }
    return {"runs": runs, "versions": versions}


def artifact_sums(tracking_uri: str, client: MlflowClient, dest: Path) -> dict[str, str]:
    """sha256 of every file of every version: its model and its run's serving artifact."""
    sums = {}
    for mv in client.search_model_versions(f"name='{MODEL}'"):
        for uri in [f"models:/{MODEL}/{mv.version}", f"runs:/{mv.run_id}/serving"]:
            out = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=uri, dst_path=str(dest / mv.version / uri.split(":")[0]),
                    tracking_uri=tracking_uri,
                )
            )  # fmt: skip
            for path in sorted(p for p in out.rglob("*") if p.is_file()):
                key = f"{mv.version}:{uri}:{path.relative_to(out)}"
                sums[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return sums
