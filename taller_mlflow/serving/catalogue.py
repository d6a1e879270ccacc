"""The registry's contents for /listar_modelos, in a bounded number of calls.

Registered models and model versions are read page by page (MLflow stops at 100 models a page by
default), all versions of all models in one paged search. A version's test accuracy is its
`test_accuracy` tag (set at registration); versions without the tag get it from their runs, read
in batches of RUN_BATCH rather than one get_run each.
"""

import pandas as pd
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from taller_mlflow.promotion.lease import LOCK_SUFFIX
from taller_mlflow.serving.cache import ModelCache
from taller_mlflow.serving.pages import all_pages
from taller_mlflow.serving.refs import RegistryUnavailable

RUN_BATCH = 100
ACCURACY = "test_accuracy"


def is_listed(name: str) -> bool:
    """A promotion's lock is a registered model (taller_mlflow/promotion/lease.py), not a model."""
    return not name.endswith(LOCK_SUFFIX)


class Catalogue:
    def __init__(self, client, cache: ModelCache, where: str, page_size: int = 1000):
        self.client, self.cache, self.where, self.page_size = client, cache, where, page_size

    def model_names(self) -> list[str]:
        try:
            models = all_pages(self.client.search_registered_models, max_results=self.page_size)
        except MlflowException:
            return []
        return sorted(rm.name for rm in models if is_listed(rm.name))

    def describe(
        self, serving: dict[str, dict[str, str]] | None = None, shadow: dict | None = None
    ) -> list[dict]:
        """Every registered model with its versions; `serving` maps name -> {alias: version}
        for the aliases this API currently serves (it can lag the registry after a failed load);
        `shadow` maps (name, version) -> the version's agreement as a shadow challenger."""
        serving, shadow = serving or {}, shadow or {}
        try:
            models = all_pages(self.client.search_registered_models, max_results=self.page_size)
            versions = all_pages(self.client.search_model_versions, max_results=10_000)
            accuracy = self._accuracies(versions)
        except MlflowException as exc:
            raise RegistryUnavailable(f"MLflow at {self.where}: {exc.message}") from exc
        by_model: dict[str, list] = {}
        for v in versions:
            by_model.setdefault(v.name, []).append(v)
        return [
            {
                "name": rm.name,
                "aliases": {k: str(v) for k, v in (rm.aliases or {}).items()},
                "serving": serving.get(rm.name, {}),
                "versions": [
                    {
                        **self._version(v, rm.aliases or {}, accuracy),
                        "shadow": shadow.get((v.name, str(v.version))),
                    }
                    for v in sorted(by_model.get(rm.name, []), key=lambda v: -int(v.version))
                ],
            }
            for rm in sorted(models, key=lambda rm: rm.name)
            if is_listed(rm.name)
        ]

    def _accuracies(self, versions) -> dict[str, float]:
        """run_id -> test_accuracy for the versions whose tag does not carry it."""
        wanted = sorted({v.run_id for v in versions if v.run_id and ACCURACY not in (v.tags or {})})
        if not wanted:
            return {}
        experiments = all_pages(
            self.client.search_experiments, view_type=ViewType.ALL, max_results=1000
        )
        ids = [e.experiment_id for e in experiments]
        found = {}
        for start in range(0, len(wanted), RUN_BATCH):
            quoted = ", ".join(f"'{r}'" for r in wanted[start : start + RUN_BATCH])
            runs = all_pages(
                self.client.search_runs,
                experiment_ids=ids,
                filter_string=f"attributes.run_id IN ({quoted})",
                run_view_type=ViewType.ALL,
            )
            found.update({r.info.run_id: r.data.metrics.get(ACCURACY) for r in runs})
        return found

    def _version(self, v, model_aliases: dict, accuracy: dict) -> dict:
        version = str(v.version)
        tag = (v.tags or {}).get(ACCURACY)
        loaded = self.cache.get(v.name, version)
        failure = self.cache.failure(v.name, version)
        return {
            "version": version,
            "aliases": sorted(a for a, target in model_aliases.items() if str(target) == version),
            "stage": v.current_stage,
            "created_at": pd.Timestamp(v.creation_timestamp, unit="ms", tz="UTC").isoformat(),
            "run_id": v.run_id,
            "test_accuracy": float(tag) if tag is not None else accuracy.get(v.run_id),
            "loaded": loaded is not None,
            "inference": loaded.fast_status if loaded else None,
            "load_error": failure.describe() if failure else None,
            # Written by the drift job (taller_mlflow.monitoring.job) as version tags.
            "drift_status": (v.tags or {}).get("drift.status"),
            "drift_checked_at": (v.tags or {}).get("drift.checked_at"),
        }
