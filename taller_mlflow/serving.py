"""Serve registered models: resolve `name`, `name@alias` or `name/version`, load once, cache, hot-swap.

The API (app/main.py) holds one ModelRegistry. Requests only read dictionaries; the registry is
called when a reference is new or when the background refresh re-resolves aliases.
"""

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import mlflow
import numpy as np
import pandas as pd
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException, RestException

from taller_mlflow.data import FEATURES
from taller_mlflow.tracking import request_auth

log = logging.getLogger(__name__)

_REF = re.compile(r"^(?P<name>[^@/]+?)(?:@(?P<alias>[^@/]+)|/(?P<version>\d+))?$")


NOT_FOUND_CODES = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND", "BAD_REQUEST")


class ModelNotFound(LookupError):
    """No such registered model, alias or version."""


class RegistryUnavailable(RuntimeError):
    """The tracking server cannot be reached and nothing usable is cached."""


@dataclass(frozen=True)
class ModelRef:
    name: str
    alias: str | None = None
    version: str | None = None
    implicit_alias: bool = False  # a bare name: the default alias, else the latest version

    @classmethod
    def parse(cls, text: str, default_alias: str) -> "ModelRef":
        match = _REF.match(text.strip())
        if not match:
            raise ValueError(f"model must be NAME, NAME@ALIAS or NAME/VERSION, got {text!r}")
        name, alias, version = match["name"], match["alias"], match["version"]
        if not alias and not version:
            return cls(name, default_alias, None, implicit_alias=True)
        return cls(name, alias, version)


@dataclass
class LoadedModel:
    """A loaded model version with the fastest verified way to predict."""

    name: str
    version: str
    sk_model: object
    classes: list[str]
    load_seconds: float
    run_id: str | None = None
    fast: object | None = None  # an object with predict_proba(rows) -> np.ndarray, verified at load
    fast_status: str = "scikit-learn"

    def predict_proba(self, rows: list[dict]) -> np.ndarray:
        if self.fast is not None:
            return self.fast.predict_proba(rows)
        return self.sk_model.predict_proba(pd.DataFrame(rows, columns=FEATURES))


@dataclass
class Resolution:
    name: str
    version: str
    via: str  # "alias", "version" or "latest" (no such alias: fell back to the newest version)


@dataclass
class ModelRegistry:
    tracking_uri: str
    default_model: str = "modelo_penguins"
    default_alias: str = "production"
    refresh_seconds: float = 30.0
    compile_fast_path: Callable[[LoadedModel], None] | None = None
    on_load: Callable[[LoadedModel], None] | None = None
    _models: dict[tuple[str, str], LoadedModel] = field(default_factory=dict)
    _resolutions: dict[ModelRef, Resolution] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _load_locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self):
        self.client = MlflowClient(self.tracking_uri, registry_uri=self.tracking_uri)

    # --- resolution -------------------------------------------------------------------------
    def parse(self, text: str | None) -> ModelRef:
        return ModelRef.parse(text or self.default_model, self.default_alias)

    def _resolve_remote(self, ref: ModelRef) -> Resolution:
        try:
            if ref.version:
                self.client.get_model_version(ref.name, ref.version)
                return Resolution(ref.name, ref.version, "version")
            try:
                mv = self.client.get_model_version_by_alias(ref.name, ref.alias)
                return Resolution(ref.name, str(mv.version), "alias")
            except RestException:
                if not ref.implicit_alias:
                    raise
            versions = self.client.search_model_versions(f"name='{ref.name}'")
            if not versions:
                raise ModelNotFound(f"model {ref.name} not found")
            latest = max(versions, key=lambda v: int(v.version))
            return Resolution(ref.name, str(latest.version), "latest")
        except RestException as exc:
            if exc.error_code in (
                "RESOURCE_DOES_NOT_EXIST",
                "INVALID_PARAMETER_VALUE",
                "NOT_FOUND",
            ):
                raise ModelNotFound(self._not_found_message(ref)) from exc
            raise RegistryUnavailable(f"registry error: {exc.message}") from exc
        except MlflowException as exc:
            if exc.error_code == "INVALID_PARAMETER_VALUE":  # refused by the client: a bad name
                raise ModelNotFound(self._not_found_message(ref)) from exc
            raise RegistryUnavailable(f"MLflow at {self.tracking_uri} unreachable") from exc

    def _not_found_message(self, ref: ModelRef) -> str:
        what = f"{ref.name}/{ref.version}" if ref.version else f"{ref.name}@{ref.alias}"
        return f"model {what} not found"

    def resolve(self, ref: ModelRef) -> Resolution:
        cached = self._resolutions.get(ref)
        if cached is not None:
            return cached
        resolution = self._resolve_remote(ref)
        self._resolutions[ref] = resolution
        return resolution

    # --- loading ----------------------------------------------------------------------------
    def _load(self, name: str, version: str) -> LoadedModel:
        key = (name, version)
        with self._lock:
            lock = self._load_locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._models:
                return self._models[key]
            started = time.perf_counter()
            try:
                sk_model = mlflow.sklearn.load_model(f"models:/{name}/{version}")
                run_id = self.client.get_model_version(name, version).run_id
            except RestException as exc:
                raise ModelNotFound(f"model {name}/{version} not found") from exc
            except (MlflowException, OSError) as exc:
                raise RegistryUnavailable(f"cannot load {name}/{version}: {exc}") from exc
            model = LoadedModel(
                name=name,
                version=version,
                sk_model=sk_model,
                classes=[str(c) for c in sk_model.classes_],
                load_seconds=0.0,
                run_id=run_id,
            )
            if self.compile_fast_path:
                self.compile_fast_path(model)
            model.load_seconds = time.perf_counter() - started
            self._models[key] = model
            log.info(
                "loaded %s/%s in %.2fs (%s)", name, version, model.load_seconds, model.fast_status
            )
            if self.on_load:
                self.on_load(model)
            return model

    def get(self, ref: ModelRef) -> tuple[LoadedModel, Resolution]:
        resolution = self.resolve(ref)
        model = self._models.get((resolution.name, resolution.version))
        if model is None:
            model = self._load(resolution.name, resolution.version)
        return model, resolution

    def cached(self, ref: ModelRef) -> LoadedModel | None:
        resolution = self._resolutions.get(ref)
        return resolution and self._models.get((resolution.name, resolution.version))

    @property
    def loaded(self) -> list[LoadedModel]:
        return list(self._models.values())

    # --- health and refresh -----------------------------------------------------------------
    def _probe(self, path: str, timeout: float) -> bool:
        try:
            url = f"{self.tracking_uri.rstrip('/')}{path}"
            return requests.get(url, timeout=timeout, **request_auth()).ok
        except requests.RequestException:
            return False

    def probe(self, timeout: float = 2.0) -> dict[str, bool]:
        """What loading a new model needs, each checked with the API's own credentials.

        registry_reachable: the server answers an authenticated registry query, which reads its
        backend store (so a refused login or a down PostgreSQL count as unreachable; /health
        checks neither). artifacts_reachable: the server lists the root of its proxied artifact
        store (a down S3 or a missing bucket count as unreachable).
        """
        registry = self._probe("/api/2.0/mlflow/registered-models/search?max_results=1", timeout)
        artifacts = registry and self._probe("/api/2.0/mlflow-artifacts/artifacts?path=", timeout)
        return {"registry_reachable": registry, "artifacts_reachable": artifacts}

    def reachable(self, timeout: float = 2.0) -> bool:
        return all(self.probe(timeout).values())

    def default_loaded(self) -> bool:
        return self.cached(self.parse(None)) is not None

    def refresh(self) -> None:
        """Re-resolve every alias reference; load a moved alias's version before switching to it."""
        for ref in [r for r in self._resolutions if r.version is None]:
            try:
                fresh = self._resolve_remote(ref)
            except (RegistryUnavailable, ModelNotFound) as exc:
                log.warning(
                    "refresh of %s failed, keeping %s: %s", ref, self._resolutions[ref], exc
                )
                continue
            current = self._resolutions.get(ref)
            if current and (fresh.version, fresh.via) == (current.version, current.via):
                continue
            try:
                self._load(fresh.name, fresh.version)
            except (RegistryUnavailable, ModelNotFound) as exc:
                log.warning("could not load %s/%s yet: %s", fresh.name, fresh.version, exc)
                continue
            self._resolutions[ref] = fresh
            log.info("%s now serves %s/%s", ref, fresh.name, fresh.version)

    def warm_up(self) -> None:
        try:
            self.get(self.parse(None))
        except (RegistryUnavailable, ModelNotFound) as exc:
            log.warning("default model not loaded at start-up: %s", exc)

    def start_refresh(self) -> None:
        def loop():
            while not self._stop.wait(self.refresh_seconds):
                if not self.default_loaded():
                    self.warm_up()
                self.refresh()

        self._thread = threading.Thread(target=loop, name="model-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    # --- listing ----------------------------------------------------------------------------
    def describe(self) -> list[dict]:
        """Every registered model with its versions, aliases, stage, time, run and test accuracy."""
        try:
            models = self.client.search_registered_models()
            out = []
            for rm in models:
                versions = self.client.search_model_versions(f"name='{rm.name}'")
                aliases_by_version: dict[str, list[str]] = {}
                for alias, version in (rm.aliases or {}).items():
                    aliases_by_version.setdefault(str(version), []).append(alias)
                out.append(
                    {
                        "name": rm.name,
                        "aliases": dict(rm.aliases or {}),
                        "versions": [
                            self._describe_version(v, aliases_by_version)
                            for v in sorted(versions, key=lambda v: -int(v.version))
                        ],
                    }
                )
            return out
        except MlflowException as exc:
            raise RegistryUnavailable(f"MLflow at {self.tracking_uri} unreachable") from exc

    def _describe_version(self, v, aliases_by_version) -> dict:
        accuracy = None
        if v.run_id:
            try:
                accuracy = self.client.get_run(v.run_id).data.metrics.get("test_accuracy")
            except RestException:
                accuracy = None
        loaded = self._models.get((v.name, str(v.version)))
        return {
            "version": str(v.version),
            "aliases": sorted(aliases_by_version.get(str(v.version), [])),
            "stage": v.current_stage,
            "created_at": pd.Timestamp(v.creation_timestamp, unit="ms", tz="UTC").isoformat(),
            "run_id": v.run_id,
            "test_accuracy": accuracy,
            "loaded": loaded is not None,
            "inference": loaded.fast_status if loaded else None,
        }

    def model_names(self) -> list[str]:
        try:
            return sorted(rm.name for rm in self.client.search_registered_models())
        except MlflowException:
            return []
