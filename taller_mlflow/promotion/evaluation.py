"""The held-out evaluation rows of a version: its run's test split, features and label.

Training logs them next to the model (`evaluation/eval_rows.csv` in the version's run), so the
gate can score a candidate and the production version on the very same rows, and the monitoring
job can compare live traffic with what the model was tested on.
"""

import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException

from taller_mlflow.penguins import CATEGORICAL, FEATURES, NUMERIC, TARGET

EVAL_DIR = "evaluation"
EVAL_ROWS_FILE = "eval_rows.csv"
EVAL_ROWS_PATH = f"{EVAL_DIR}/{EVAL_ROWS_FILE}"


class EvalRowsMissing(LookupError):
    """The version's run has no readable evaluation rows (e.g. trained before the gate existed)."""


def eval_frame(x_test: pd.DataFrame, y_test) -> pd.DataFrame:
    """The rows as they are logged: the six features, then the label."""
    frame = x_test[FEATURES].reset_index(drop=True).copy()
    frame[TARGET] = pd.Series(list(y_test), dtype=object)
    return frame


def log_eval_rows(x_test: pd.DataFrame, y_test, run_id: str | None = None, client=None) -> None:
    """Log the held-out rows as `evaluation/eval_rows.csv`: in the active run, or in `run_id`
    through `client` when both are given."""
    text = eval_frame(x_test, y_test).to_csv(index=False)
    if run_id is None:
        mlflow.log_text(text, EVAL_ROWS_PATH)
        return
    with tempfile.TemporaryDirectory(prefix="eval-rows-") as tmp:
        path = Path(tmp) / EVAL_ROWS_FILE
        path.write_text(text)
        client.log_artifact(run_id, str(path), EVAL_DIR)


def read_eval_rows(path) -> pd.DataFrame:
    """Parse the CSV back with the types training used: strings stay strings (no "NA" -> NaN)."""
    frame = pd.read_csv(path, dtype={c: str for c in [*CATEGORICAL, TARGET]}, keep_default_na=False)
    missing = [c for c in [*FEATURES, TARGET] if c not in frame.columns]
    if missing:
        raise EvalRowsMissing(f"{EVAL_ROWS_PATH} lacks columns {missing}")
    if frame.empty:
        raise EvalRowsMissing(f"{EVAL_ROWS_PATH} holds no rows")
    for column in NUMERIC:
        frame[column] = frame[column].astype("float64")
    for column in [*CATEGORICAL, TARGET]:
        frame[column] = frame[column].astype(object)
    return frame[[*FEATURES, TARGET]]


def load_eval_rows(client, name: str, version: str) -> pd.DataFrame:
    """The evaluation rows of `name`/`version` (FEATURES + species), read through `client`'s
    tracking server. Raises EvalRowsMissing, naming the version, when its run has none.

    The run's listing is read first: through the artifact proxy, downloading a file that is not
    there is a server error, which MLflow's client retries with backoff for minutes, and versions
    registered before training logged these rows (which --export verifies) have none."""
    try:
        run_id = client.get_model_version(name, str(version)).run_id
        if not run_id:
            raise EvalRowsMissing(f"{name}/{version} has no source run")
        if EVAL_ROWS_PATH not in {f.path for f in client.list_artifacts(run_id, EVAL_DIR)}:
            raise EvalRowsMissing(
                f"{name}/{version} has no readable {EVAL_ROWS_PATH}: run {run_id} logged none"
            )
        with tempfile.TemporaryDirectory(prefix="eval-rows-") as tmp:
            return read_eval_rows(client.download_artifacts(run_id, EVAL_ROWS_PATH, tmp))
    except (MlflowException, OSError) as exc:
        reason = getattr(exc, "message", None) or str(exc)
        raise EvalRowsMissing(
            f"{name}/{version} has no readable {EVAL_ROWS_PATH}: {reason.splitlines()[0]}"
        ) from exc


def split_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return frame[FEATURES], frame[TARGET]


def as_api_rows(frame: pd.DataFrame) -> list[dict]:
    """The features as the API's penguin dicts (what the ONNX fast path takes)."""
    return [
        {**{c: str(r[c]) for c in CATEGORICAL}, **{c: float(r[c]) for c in NUMERIC}}
        for r in frame[FEATURES].to_dict("records")
    ]
