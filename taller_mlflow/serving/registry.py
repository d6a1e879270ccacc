"""The API's view of the registry: which version each reference serves, and the loaded models.

Requests read two dictionaries (reference -> resolution, version -> loaded model). The registry
is asked only when a reference is new, and by the refresher, which re-resolves every alias and
swaps a reference to a new version only once that version has loaded. A version that fails to
load is never swapped in: the old one keeps serving and the failure shows in the listing.
"""

import logging
import threading
from collections.abc import Callable

from taller_mlflow.serving.cache import LoadedModel, ModelCache, ModelLoadFailed
from taller_mlflow.serving.catalogue import Catalogue
from taller_mlflow.serving.refresher import Refresher
from taller_mlflow.serving.refs import (
    ModelNotFound,
    ModelRef,
    RegistryUnavailable,
    Resolution,
    Resolver,
)

log = logging.getLogger(__name__)

EXPECTED = (ModelNotFound, RegistryUnavailable, ModelLoadFailed)


class ModelRegistry:
    def __init__(
        self,
        resolver: Resolver,
        cache: ModelCache,
        catalogue: Catalogue,
        *,
        default_model: str = "modelo_penguins",
        default_alias: str = "production",
        refresh_seconds: float = 30.0,
        probe: Callable[[], dict[str, bool]] | None = None,
        refresher_hooks: dict | None = None,
    ):
        self.resolver, self.cache, self.catalogue = resolver, cache, catalogue
        self.default_model, self.default_alias = default_model, default_alias
        self.probe = probe or (lambda: {})
        self.refresher = Refresher(self.refresh, refresh_seconds, **(refresher_hooks or {}))
        self._resolutions: dict[ModelRef, Resolution] = {}
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        # () -> {(name, version): agreement} from shadow scoring (app/shadow.py), for the listing
        self.shadow_stats: Callable[[], dict] | None = None

    # --- the request path -------------------------------------------------------------------
    def parse(self, text: str | None) -> ModelRef:
        return ModelRef.parse(text or self.default_model, self.default_alias)

    def resolve(self, ref: ModelRef) -> Resolution:
        cached = self._resolutions.get(ref)
        if cached is not None:
            return cached
        resolution = self.resolver.resolve(ref)
        with self._lock:
            return self._resolutions.setdefault(ref, resolution)

    def get(self, ref: ModelRef) -> tuple[LoadedModel, Resolution]:
        resolution = self.resolve(ref)
        model = self.cache.get(resolution.name, resolution.version)
        if model is None:
            model = self.cache.load(resolution.name, resolution.version)
        return model, resolution

    def cached(self, ref: ModelRef) -> LoadedModel | None:
        resolution = self._resolutions.get(ref)
        return resolution and self.cache.get(resolution.name, resolution.version)

    def default_loaded(self) -> bool:
        return self.cached(self.parse(None)) is not None

    # --- background --------------------------------------------------------------------------
    def warm_up(self) -> None:
        try:
            self.get(self.parse(None))
        except EXPECTED as exc:
            log.warning("default model not loaded: %s", exc)

    def refresh(self) -> None:
        """Re-resolve every alias reference; load a moved alias's version before switching."""
        if not self.default_loaded():
            self.warm_up()
        self._refresh_where(lambda ref: True)

    def refresh_model(self, name: str) -> dict[str, str]:
        """Re-resolve `name`'s alias references now (a webhook said one moved), with the same
        rule as the poll: load first, never swap in a failed load. Returns {alias: version}
        this API serves for `name` afterwards."""
        if name == self.default_model and not self.default_loaded():
            self.warm_up()
        self._refresh_where(lambda ref: ref.name == name)
        return self.serving().get(name, {})

    def _refresh_where(self, wanted: Callable[[ModelRef], bool]) -> None:
        # One refresh at a time: a poll that read an alias just before a webhook's refresh moved
        # it must not swap the older version back in afterwards.
        with self._refresh_lock:
            with self._lock:
                current = {
                    ref: res
                    for ref, res in self._resolutions.items()
                    if ref.version is None and wanted(ref)
                }
            for ref, old in current.items():
                try:
                    fresh = self.resolver.resolve(ref)
                    if (fresh.version, fresh.via) == (old.version, old.via):
                        continue
                    self.cache.load(fresh.name, fresh.version)
                except EXPECTED as exc:
                    log.warning("%s keeps serving %s/%s: %s", ref, old.name, old.version, exc)
                    continue
                with self._lock:
                    self._resolutions[ref] = fresh
                log.info("%s now serves %s/%s", ref, fresh.name, fresh.version)

    def start(self) -> None:
        self.refresher.start()

    def stop(self) -> None:
        self.refresher.stop()

    # --- listing -----------------------------------------------------------------------------
    def serving(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for ref, res in list(self._resolutions.items()):
            if ref.version is None and res.via == "alias":
                out.setdefault(ref.name, {})[ref.alias] = res.version
        return out

    def describe(self) -> list[dict]:
        shadow = self.shadow_stats() if self.shadow_stats else None
        return self.catalogue.describe(self.serving(), shadow)

    def model_names(self) -> list[str]:
        return self.catalogue.model_names()

    @property
    def loaded(self) -> list[LoadedModel]:
        return self.cache.loaded
