"""The evaluation rows artifact: what training logs is what the gate reads back, types included."""

from pathlib import Path

import pandas as pd
import pytest
from mlflow.entities import FileInfo
from mlflow.entities.model_registry import ModelVersion

from taller_mlflow.penguins import FEATURES, TARGET, clean, read_csv
from taller_mlflow.promotion.evaluation import (
    EVAL_ROWS_PATH,
    EvalRowsMissing,
    as_api_rows,
    eval_frame,
    load_eval_rows,
    log_eval_rows,
)
from taller_mlflow.training.model import split
from tests.unit.promotion.fakes import rest_error


class ArtifactClient:
    """log_artifact / list_artifacts / download_artifacts over a folder per run, and one model
    version."""

    def __init__(self, root: Path):
        self.root = root

    def get_model_version(self, name, version):
        return ModelVersion(name, version, 0, run_id="run-1")

    def log_artifact(self, run_id, local_path, artifact_path):
        target = self.root / run_id / artifact_path
        target.mkdir(parents=True, exist_ok=True)
        (target / Path(local_path).name).write_bytes(Path(local_path).read_bytes())

    def list_artifacts(self, run_id, path):
        folder = self.root / run_id / path
        files = sorted(folder.iterdir()) if folder.is_dir() else []
        return [FileInfo(f"{path}/{f.name}", f.is_dir(), f.stat().st_size) for f in files]

    def download_artifacts(self, run_id, path, dst_path):
        source = self.root / run_id / path
        if not source.exists():
            raise rest_error("RESOURCE_DOES_NOT_EXIST", f"no artifact {path}")
        (Path(dst_path) / source.name).write_bytes(source.read_bytes())
        return str(Path(dst_path) / source.name)


@pytest.fixture
def held_out():
    _, x_test, _, y_test = split(clean(read_csv()).frame)
    return x_test, y_test


def test_logged_rows_come_back_equal_with_their_types(tmp_path, held_out):
    x_test, y_test = held_out
    client = ArtifactClient(tmp_path)
    log_eval_rows(x_test, y_test, run_id="run-1", client=client)
    rows = load_eval_rows(client, "modelo_penguins", "1")
    assert list(rows.columns) == [*FEATURES, TARGET]
    pd.testing.assert_frame_equal(rows, eval_frame(x_test, y_test))
    assert len(rows) == 100 and rows[TARGET].map(type).eq(str).all()
    assert as_api_rows(rows)[0] == {
        c: (str if c in ("island", "sex") else float)(x_test.iloc[0][c]) for c in FEATURES
    }


def test_a_version_without_rows_names_itself_and_the_artifact(tmp_path):
    with pytest.raises(
        EvalRowsMissing, match=f"modelo_penguins/3 has no readable {EVAL_ROWS_PATH}"
    ):
        load_eval_rows(ArtifactClient(tmp_path), "modelo_penguins", "3")


def test_a_file_missing_columns_is_refused(tmp_path, held_out):
    x_test, y_test = held_out
    client = ArtifactClient(tmp_path)
    log_eval_rows(x_test, y_test, run_id="run-1", client=client)
    path = tmp_path / "run-1" / EVAL_ROWS_PATH
    path.write_text(path.read_text().replace("body_mass_g", "mass"))
    with pytest.raises(EvalRowsMissing, match=r"lacks columns \['body_mass_g'\]"):
        load_eval_rows(client, "modelo_penguins", "1")


def test_a_run_without_rows_is_reported_from_its_listing_without_a_download(tmp_path):
    """Through the artifact proxy a missing file is a server error that MLflow's client retries
    for minutes: the listing answers first."""
    client = ArtifactClient(tmp_path)
    downloads = []
    client.download_artifacts = lambda *args: downloads.append(args)
    with pytest.raises(EvalRowsMissing, match="run run-1 logged none"):
        load_eval_rows(client, "modelo_penguins", "3")
    assert downloads == []
