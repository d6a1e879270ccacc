"""What the quality check compares with: a version's held-out accuracy from training and the
calibration of its top probabilities on the same held-out rows (for CBPE).

The held-out accuracy is the version's `test_accuracy` tag (set at registration), else its run's
`test_accuracy` metric. The calibration scores the version's evaluation rows
(promotion/evaluation.py) with its verified ONNX graph, through the API's own loader, so the
probabilities are the ones the API logs.
"""

import io

import numpy as np
import pandas as pd

from taller_mlflow.monitoring.cbpe import Calibration, calibrate
from taller_mlflow.penguins import CATEGORICAL, FEATURES, TARGET

ACCURACY = "test_accuracy"
EVAL_ROWS_PATH = "evaluation/eval_rows.csv"  # promotion/evaluation.py's EVAL_ROWS_PATH


def heldout_accuracy(client, name: str, version: str) -> float | None:
    mv = client.get_model_version(name, version)
    value = dict(mv.tags or {}).get(ACCURACY)
    if value is None and mv.run_id:
        value = client.get_run(mv.run_id).data.metrics.get(ACCURACY)
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def eval_rows(client, name: str, version: str) -> pd.DataFrame:
    """The version's evaluation rows, as training logged them (promotion/evaluation.py writes
    and the gate reads them; monitoring sits below promotion, so it reads the CSV itself)."""
    run_id = client.get_model_version(name, version).run_id
    content = client.download_run_artifact(run_id, EVAL_ROWS_PATH)
    text = {c: str for c in [*CATEGORICAL, TARGET]}
    return pd.read_csv(io.BytesIO(content), dtype=text, keep_default_na=False)


def scored_heldout(client, tracking_uri: str, name: str, version: str):
    """(top probability, right or not) of each evaluation row, scored by the served graph."""
    from taller_mlflow.serving.artifacts import ArtifactLoader
    from taller_mlflow.serving.mlflow_rest import MlflowRest

    rows = eval_rows(client, name, version)
    model = ArtifactLoader(MlflowRest(tracking_uri))(name, version)
    proba = model.predict_proba({c: rows[c].tolist() for c in FEATURES})
    predicted = np.asarray(model.classes, dtype=object)[proba.argmax(axis=1)]
    return proba.max(axis=1), predicted == rows[TARGET].astype(str).to_numpy(dtype=object)


class Calibrations:
    """Each version's calibration, made once per process (a version's rows never change); a
    version whose rows or graph cannot be read has none, and its estimate is left out."""

    def __init__(self, score):
        self.score, self.made = score, {}

    def __call__(self, name: str, version: str) -> Calibration | None:
        key = (name, version)
        if key not in self.made:
            try:
                confidence, correct = self.score(name, version)
                self.made[key] = calibrate(confidence, correct)
            except Exception:  # noqa: BLE001 - no calibration: no estimate, the check still runs
                return None
        return self.made[key]
