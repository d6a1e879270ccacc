"""Serve registered models: resolve `name`, `name@alias` or `name/version`, load once, hot-swap.

- refs: references, their resolution, and the one table of not-found error codes;
- cache: loaded versions, per-version load locks, failed loads with backoff;
- refresher: the supervised background thread that re-resolves aliases;
- catalogue: the paged listing for /listar_modelos;
- loader, health: the MLflow-facing parts, injected so tests can pass fakes;
- registry: the facade the API holds; build: wires it from settings.
"""

from taller_mlflow.serving.cache import LoadedModel, LoadFailure, ModelCache, ModelLoadFailed
from taller_mlflow.serving.refs import ModelNotFound, ModelRef, RegistryUnavailable, Resolution
from taller_mlflow.serving.registry import ModelRegistry

__all__ = [
    "LoadFailure",
    "LoadedModel",
    "ModelCache",
    "ModelLoadFailed",
    "ModelNotFound",
    "ModelRef",
    "ModelRegistry",
    "RegistryUnavailable",
    "Resolution",
]
