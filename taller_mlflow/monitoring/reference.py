"""The reference profile of a model version: what its training split looked like.

Training logs it as `reference_profile.json` in the run whose model is registered, so the drift
job finds it from any version through `version.run_id`. It holds, from the training split only:
- per numeric feature, the interior edges of its quantile bins (quintiles by default, see
  taller_mlflow/monitoring/drift.py for why), each bin's share, and the training values
  themselves (sorted; a few hundred numbers) for the KS test;
- per categorical feature, the count and share of each category;
- the class balance (counts and shares of the labels).
"""

import json
import logging
from typing import TYPE_CHECKING

from taller_mlflow.monitoring.drift import bin_shares, quantile_edges
from taller_mlflow.penguins import CATEGORICAL, NUMERIC
from taller_mlflow.serving.problems import ModelNotFound

if TYPE_CHECKING:  # training builds profiles with pandas; the drift job only reads them
    import pandas as pd

log = logging.getLogger(__name__)

PROFILE_FILE = "reference_profile.json"
FORMAT = 1


def _frequencies(values: "pd.Series") -> dict:
    counts = values.astype(str).value_counts().sort_index()
    total = int(counts.sum())
    return {
        "counts": {k: int(v) for k, v in counts.items()},
        "shares": {k: int(v) / total for k, v in counts.items()},
    }


def build_profile(features: "pd.DataFrame", labels: "pd.Series", bins: int = 5) -> dict:
    """The profile of a training split: `features` has the model's columns, `labels` the species."""
    numeric = {}
    for name in NUMERIC:
        values = features[name].astype(float).to_numpy()
        edges = quantile_edges(values, bins)
        numeric[name] = {
            "edges": edges,
            "shares": [float(s) for s in bin_shares(values, edges)],
            "values": sorted(float(v) for v in values),
        }
    return {
        "format": FORMAT,
        "rows": len(features),
        "bins": bins,
        "numeric": numeric,
        "categorical": {name: _frequencies(features[name]) for name in CATEGORICAL},
        "classes": _frequencies(labels),
    }


def log_profile(profile: dict, run_id: str | None = None, client=None) -> None:
    """Log the profile in the active MLflow run, or in `run_id` through `client` (an
    MlflowClient) when both are given: any thread can do that."""
    if run_id is None:
        import mlflow

        mlflow.log_dict(profile, PROFILE_FILE)
        return
    client.log_dict(run_id, profile, PROFILE_FILE)


class NoProfile(Exception):
    """The version's run has no usable reference profile; the message says why."""


def load_profile(client, run_id: str | None) -> dict:
    """The profile logged in `run_id`, through `client` (monitoring/monitor_rest.py). Raises
    NoProfile; RegistryUnavailable when the server cannot say."""
    if not run_id:
        raise NoProfile("the version has no source run")
    try:
        text = client.download_run_artifact(run_id, PROFILE_FILE)
    except ModelNotFound as exc:
        raise NoProfile(f"run {run_id} has no {PROFILE_FILE}") from exc
    try:
        profile = json.loads(text)
    except ValueError as exc:
        raise NoProfile(f"run {run_id}: {PROFILE_FILE} is not JSON: {exc}") from exc
    if not isinstance(profile, dict) or profile.get("format") != FORMAT:
        found = profile.get("format") if isinstance(profile, dict) else type(profile).__name__
        raise NoProfile(f"run {run_id}: {PROFILE_FILE} has format {found!r}")
    return profile
