"""The served models' contents for /listar_modelos, in a bounded number of registry calls.

Registered models and model versions are read page by page, all versions in one paged search. A
version's test accuracy is its `test_accuracy` tag (set at registration); versions without the tag
get it from their runs, read in batches rather than one call each. The registry's answer is kept
for `ttl_seconds`, so a burst of listings (or of unauthenticated clients) costs MLflow one
round of calls; what this API has loaded, failed to load or shadowed is always current.
"""

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from taller_mlflow.serving.cache import ModelCache
from taller_mlflow.serving.manifest import FORMAT, FORMAT_TAG, SHA256_TAG
from taller_mlflow.serving.mlflow_rest import MlflowRest, ModelVersion, RegisteredModel

ACCURACY = "test_accuracy"


class Catalogue:
    def __init__(
        self,
        rest: MlflowRest,
        cache: ModelCache,
        served: Callable[[str], bool],
        ttl_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.rest, self.cache, self.served = rest, cache, served
        self.ttl_seconds, self.clock = ttl_seconds, clock
        self._snapshot: tuple[float, list, list, dict] | None = None
        self._lock = threading.Lock()
        self._server_version: str | None = None

    def _registry(self) -> tuple[list[RegisteredModel], list[ModelVersion], dict]:
        """(models, versions, run accuracies) of the served models, at most ttl_seconds old."""
        with self._lock:
            snap = self._snapshot
            if snap is not None and self.clock() < snap[0]:
                return snap[1], snap[2], snap[3]
            models = [m for m in self.rest.search_registered_models() if self.served(m.name)]
            names = {m.name for m in models}
            versions = [v for v in self.rest.search_model_versions() if v.name in names]
            untagged = sorted({v.run_id for v in versions if v.run_id and ACCURACY not in v.tags})
            accuracy = self.rest.run_metric(untagged, ACCURACY) if untagged else {}
            self._snapshot = (self.clock() + self.ttl_seconds, models, versions, accuracy)
            return models, versions, accuracy

    def forget(self) -> None:
        """Read the registry again at the next listing (a webhook said something moved)."""
        with self._lock:
            self._snapshot = None

    def server_version(self) -> str:
        """The tracking server's MLflow version, asked once."""
        if self._server_version is None:
            self._server_version = self.rest.server_version()
        return self._server_version

    def model_names(self) -> list[str]:
        return sorted(m.name for m in self._registry()[0])

    def describe(
        self, serving: dict[str, dict[str, str]] | None = None, shadow: dict | None = None
    ) -> list[dict]:
        """Every served model with its versions; `serving` maps name -> {alias: version} this
        API currently serves (it can lag the registry after a failed load); `shadow` maps
        (name, version) -> the version's agreement as a shadow challenger."""
        serving, shadow = serving or {}, shadow or {}
        models, versions, accuracy = self._registry()
        by_model: dict[str, list[ModelVersion]] = {}
        for v in versions:
            by_model.setdefault(v.name, []).append(v)
        return [
            {
                "name": rm.name,
                "aliases": dict(rm.aliases),
                "serving": serving.get(rm.name, {}),
                "versions": [
                    {
                        **self._version(v, rm.aliases, accuracy),
                        "shadow": shadow.get((v.name, v.version)),
                    }
                    for v in sorted(by_model.get(rm.name, []), key=lambda v: -int(v.version))
                ],
            }
            for rm in sorted(models, key=lambda rm: rm.name)
        ]

    def _version(self, v: ModelVersion, model_aliases: dict, accuracy: dict) -> dict:
        tag = v.tags.get(ACCURACY)
        loaded = self.cache.peek(v.name, v.version)
        failure = self.cache.failure(v.name, v.version)
        verified = v.tags.get(FORMAT_TAG) == FORMAT and bool(v.tags.get(SHA256_TAG))
        return {
            "version": v.version,
            "aliases": sorted(a for a, target in model_aliases.items() if target == v.version),
            "stage": v.current_stage,
            "created_at": datetime.fromtimestamp(v.creation_timestamp / 1000, UTC).isoformat(),
            "run_id": v.run_id,
            "test_accuracy": _number(tag) if tag is not None else accuracy.get(v.run_id),
            "verified": verified,
            "serving_sha256": v.tags.get(SHA256_TAG) if verified else None,
            "loaded": loaded is not None,
            "inference": "onnxruntime" if loaded else None,
            "load_error": failure.describe() if failure else None,
            # Written by the drift job (taller_mlflow.monitoring.job) as version tags.
            "drift_status": v.tags.get("drift.status"),
            "drift_checked_at": v.tags.get("drift.checked_at"),
        }


def _number(text: str) -> float | None:
    """A tag edited by hand must not turn the listing into a 500."""
    try:
        return float(text)
    except ValueError:
        return None
