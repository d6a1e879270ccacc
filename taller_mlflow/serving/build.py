"""Wire a ModelRegistry from settings: the real MLflow client, loader and probe, or fakes."""

from collections.abc import Callable

from taller_mlflow.serving.cache import ModelCache
from taller_mlflow.serving.catalogue import Catalogue
from taller_mlflow.serving.health import RegistryProbe
from taller_mlflow.serving.loader import MlflowLoader
from taller_mlflow.serving.refs import Resolver
from taller_mlflow.serving.registry import ModelRegistry


def build_registry(
    settings,
    *,
    client=None,
    loader: Callable | None = None,
    probe: Callable | None = None,
    compile_fast_path: Callable | None = None,
    hooks: dict | None = None,
) -> ModelRegistry:
    """hooks: on_load, on_failure (ModelCache); on_error, on_restart (the refresher)."""
    hooks = hooks or {}
    uri = settings.mlflow_tracking_uri
    if client is None:
        from mlflow import MlflowClient

        client = MlflowClient(uri, registry_uri=uri)
    cache = ModelCache(
        loader or MlflowLoader(client, uri),
        compile_fast_path=compile_fast_path,
        on_load=hooks.get("on_load"),
        on_failure=hooks.get("on_failure"),
        retry_seconds=settings.model_load_retry_seconds,
        retry_max_seconds=settings.model_load_retry_max_seconds,
    )
    return ModelRegistry(
        Resolver(client, uri),
        cache,
        Catalogue(client, cache, uri),
        default_model=settings.model_name,
        default_alias=settings.model_alias,
        refresh_seconds=settings.model_refresh_seconds,
        probe=probe or RegistryProbe(uri),
        refresher_hooks={k: hooks[k] for k in ("on_error", "on_restart") if k in hooks},
    )
