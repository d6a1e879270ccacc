"""Wire the serving core from settings: the REST client, the registry, the data plane, shadow
scoring. Tests pass fakes for the REST client and the loader."""

from collections.abc import Callable

from taller_mlflow.serving.artifacts import ArtifactLoader
from taller_mlflow.serving.cache import ModelCache
from taller_mlflow.serving.catalogue import Catalogue
from taller_mlflow.serving.dataplane import DataPlane
from taller_mlflow.serving.health import RegistryProbe
from taller_mlflow.serving.mlflow_rest import MlflowRest
from taller_mlflow.serving.refs import Resolver
from taller_mlflow.serving.registry import ModelRegistry
from taller_mlflow.serving.shadow import ShadowScorer


def rest_client(settings) -> MlflowRest:
    return MlflowRest(
        settings.mlflow_tracking_uri,
        timeout=settings.mlflow_request_timeout_seconds,
        retries=settings.mlflow_request_max_retries,
    )


def build_registry(
    settings,
    *,
    rest=None,
    loader: Callable | None = None,
    probe: Callable | None = None,
    hooks: dict | None = None,
) -> ModelRegistry:
    """hooks: on_load, on_failure (ModelCache); on_error, on_restart (the refresher)."""
    hooks = hooks or {}
    rest = rest or rest_client(settings)
    served = settings.served_model_names
    cache = ModelCache(
        loader or ArtifactLoader(rest),
        max_models=settings.max_loaded_models,
        on_load=hooks.get("on_load"),
        on_failure=hooks.get("on_failure"),
        retry_seconds=settings.model_load_retry_seconds,
        retry_max_seconds=settings.model_load_retry_max_seconds,
    )
    return ModelRegistry(
        Resolver(rest),
        cache,
        Catalogue(rest, cache, lambda name: name in served, settings.listing_cache_seconds),
        default_model=settings.model_name,
        default_alias=settings.model_alias,
        challenger_alias=settings.challenger_alias,
        served_models=served,
        refresh_seconds=settings.model_refresh_seconds,
        not_found_seconds=settings.not_found_cache_seconds,
        probe=probe or RegistryProbe(settings.mlflow_tracking_uri),
        refresher_hooks={k: hooks[k] for k in ("on_error", "on_restart") if k in hooks},
    )


def build_dataplane(settings, registry: ModelRegistry, shadow_sink=None) -> DataPlane:
    """The data plane over `registry`, with shadow scoring unless TALLER_SHADOW_FRACTION is 0
    (its rows go to `shadow_sink`, the prediction log, when there is one)."""
    plane = DataPlane(
        registry,
        max_rows=settings.protocol_max_rows,
        inline_bytes=settings.inline_body_bytes,
        threads=settings.scoring_threads,
        max_pending=settings.max_pending_requests,
    )
    if settings.shadow_fraction > 0:
        plane.shadow = ShadowScorer(registry, settings.shadow_fraction, sink=shadow_sink)
        plane.observers.append(plane.shadow)  # sampled through plane.shadow.wants
    return plane
