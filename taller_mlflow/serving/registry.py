"""The API's view of the registry: which version each reference serves, and the loaded models.

Requests read two dictionaries (reference -> resolution, version -> loaded model). The registry
is asked only when a reference is new (a "not found" is remembered for `not_found_seconds`), and
by the refresher, which re-resolves every alias reference and swaps it to a new version only once
that version has loaded. A version that cannot be served is never swapped in: the old one keeps
serving and the failure shows in the listing. A version no reference serves any more is dropped.

Only the models in `served_models` are answered for: any other name is ModelNotFound at once,
with no registry call and nothing downloaded. The shadow challenger is `name@challenger`, served
like any alias reference (refreshed, swapped by webhooks), only never answered to a client.
"""

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from taller_mlflow.serving.artifacts import ServedModel
from taller_mlflow.serving.cache import ModelCache
from taller_mlflow.serving.catalogue import Catalogue
from taller_mlflow.serving.problems import (
    ModelLoadFailed,
    ModelNotFound,
    RegistryUnavailable,
    ServingError,
)
from taller_mlflow.serving.refresher import Refresher
from taller_mlflow.serving.refs import ModelRef, Resolution, Resolver

log = logging.getLogger(__name__)

EXPECTED = (ModelNotFound, RegistryUnavailable, ModelLoadFailed)
MAX_NOT_FOUND = 1024  # "not found" answers remembered


class ModelRegistry:
    def __init__(
        self,
        resolver: Resolver,
        cache: ModelCache,
        catalogue: Catalogue,
        *,
        default_model: str = "modelo_penguins",
        default_alias: str = "production",
        challenger_alias: str = "challenger",
        served_models: Iterable[str] = (),
        refresh_seconds: float = 30.0,
        not_found_seconds: float = 5.0,
        probe: Callable[[], dict[str, bool]] | None = None,
        refresher_hooks: dict | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.resolver, self.cache, self.catalogue = resolver, cache, catalogue
        self.default_model, self.default_alias = default_model, default_alias
        self.challenger_alias = challenger_alias
        self.served_models = tuple(dict.fromkeys(served_models or (default_model,)))
        self.not_found_seconds, self.clock = not_found_seconds, clock
        self.probe = probe or (lambda: {})
        self.refresher = Refresher(self.refresh, refresh_seconds, **(refresher_hooks or {}))
        self._resolutions: dict[ModelRef, Resolution] = {}
        self._not_found: OrderedDict[ModelRef, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()

    # --- the request path -------------------------------------------------------------------
    def is_served(self, name: str) -> bool:
        return name in self.served_models

    def parse(self, text: str | None) -> ModelRef:
        """ValueError for a malformed reference; ModelNotFound for a model this API does not
        serve (naming the ones it does)."""
        ref = ModelRef.parse(text or self.default_model, self.default_alias)
        if not self.is_served(ref.name):
            raise ModelNotFound(
                f"model {ref.name} not found: this API serves {', '.join(self.served_models)}",
                served=list(self.served_models),
            )
        return ref

    def resolve(self, ref: ModelRef) -> Resolution:
        cached = self._resolutions.get(ref)
        if cached is not None:
            return cached
        missing = self._not_found.get(ref)
        if missing is not None and self.clock() < missing[1]:
            raise ModelNotFound(missing[0])
        try:
            resolution = self.resolver.resolve(ref)
        except ModelNotFound as exc:
            self._remember_not_found(ref, str(exc))
            raise
        with self._lock:
            self._not_found.pop(ref, None)
            return self._resolutions.setdefault(ref, resolution)

    def _remember_not_found(self, ref: ModelRef, message: str) -> None:
        with self._lock:
            self._not_found[ref] = (message, self.clock() + self.not_found_seconds)
            self._not_found.move_to_end(ref)
            while len(self._not_found) > MAX_NOT_FOUND:
                self._not_found.popitem(last=False)

    def get(self, ref: ModelRef) -> tuple[ServedModel, Resolution]:
        resolution = self.resolve(ref)
        model = self.cache.get(resolution.name, resolution.version)
        if model is None:
            model = self.cache.load(resolution.name, resolution.version)
        return model, resolution

    def cached(self, ref: ModelRef) -> ServedModel | None:
        resolution = self._resolutions.get(ref)
        return resolution and self.cache.get(resolution.name, resolution.version)

    def is_ready(self, text: str | None) -> bool:
        """True when answering for `text` needs no registry call: loaded, or an error we can
        give at once (a malformed or unserved name)."""
        try:
            return self.cached(self.parse(text)) is not None
        except (ValueError, ServingError):
            return True

    def default_loaded(self) -> bool:
        """The default model's default alias is loaded (False when it is not even served)."""
        return self.is_served(self.default_model) and self.cached(self.parse(None)) is not None

    def challenger(self, name: str) -> ServedModel | None:
        """The version `name@challenger` serves, loaded; None when there is none or it cannot be
        served (its failure shows in the listing like any version's)."""
        try:
            return self.get(ModelRef(name, self.challenger_alias))[0]
        except EXPECTED:
            return None

    # --- background --------------------------------------------------------------------------
    def warm_up(self) -> None:
        if not self.is_served(self.default_model):
            return
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
        with self._lock:
            for ref in [r for r in self._not_found if r.name == name]:
                del self._not_found[ref]
        self.catalogue.forget()
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
                self._refresh_one(ref, old)

    def _refresh_one(self, ref: ModelRef, old: Resolution) -> None:
        try:
            fresh = self.resolver.resolve(ref)
        except ModelNotFound:  # the alias is gone: stop answering for it
            with self._lock:
                self._resolutions.pop(ref, None)
            log.info("%s no longer exists; it served %s/%s", ref, old.name, old.version)
            self._drop_if_unserved(old)
            return
        except RegistryUnavailable as exc:
            log.warning("%s keeps serving %s/%s: %s", ref, old.name, old.version, exc)
            return
        if (fresh.version, fresh.via) == (old.version, old.via):
            return
        try:
            self.cache.load(fresh.name, fresh.version)
        except EXPECTED as exc:
            log.warning("%s keeps serving %s/%s: %s", ref, old.name, old.version, exc)
            return
        with self._lock:
            self._resolutions[ref] = fresh
        log.info("%s now serves %s/%s", ref, fresh.name, fresh.version)
        self._drop_if_unserved(old)

    def _drop_if_unserved(self, old: Resolution) -> None:
        with self._lock:
            still = any(
                (r.name, r.version) == (old.name, old.version) for r in self._resolutions.values()
            )
        if not still:
            self.cache.drop(old.name, old.version)

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

    def describe(self, shadow: dict | None = None) -> list[dict]:
        return self.catalogue.describe(self.serving(), shadow)

    def model_names(self) -> list[str]:
        return list(self.served_models)

    def server_version(self) -> str:
        return self.catalogue.server_version()

    @property
    def loaded(self) -> list[ServedModel]:
        return self.cache.loaded
