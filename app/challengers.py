"""Which version is a model's `challenger`, and that version loaded, for shadow scoring.

The alias is resolved through the registry and remembered for `recheck_seconds` (a missing alias
too, so no registry call per request when there is none) or until a webhook says an alias moved.
The version is loaded through the model cache, so one that fails to load or its smoke test is
never used (its failure shows in /listar_modelos like any version's).
"""

import logging
import threading
import time

from taller_mlflow.serving import ModelLoadFailed, ModelNotFound, ModelRegistry, RegistryUnavailable
from taller_mlflow.serving.refs import ModelRef

log = logging.getLogger(__name__)


class Challengers:
    def __init__(self, registry: ModelRegistry, alias: str, recheck_seconds: float):
        self.registry, self.alias, self.recheck_seconds = registry, alias, recheck_seconds
        self._known: dict[str, tuple[str | None, float]] = {}  # name -> (version, until)
        self._lock = threading.Lock()

    def version(self, name: str) -> str | None:
        """The version `name@alias` points at, or None."""
        now = time.monotonic()
        with self._lock:
            cached = self._known.get(name)
        if cached and now < cached[1]:
            return cached[0]
        try:
            version = self.registry.resolver.resolve(ModelRef(name, self.alias)).version
        except ModelNotFound:
            version = None
        except RegistryUnavailable:
            version = cached[0] if cached else None  # keep what we knew while MLflow is away
        with self._lock:
            self._known[name] = (version, now + self.recheck_seconds)
        return version

    def forget(self, name: str) -> None:
        """An alias of `name` moved: look it up again next time."""
        with self._lock:
            self._known.pop(name, None)

    def model(self, name: str, version: str):
        """The loaded version (a LoadedModel), or None when it cannot be used."""
        cache = self.registry.cache
        try:
            return cache.get(name, version) or cache.load(name, version)
        except (ModelLoadFailed, ModelNotFound, RegistryUnavailable) as exc:
            log.warning("shadow: challenger %s/%s not usable: %s", name, version, exc)
            return None
