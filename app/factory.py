"""create_app(settings, registry): the API from its settings and, for tests, a ready registry.

The app is the HTTP surface only: routes and protocol codecs over one data plane
(taller_mlflow/serving/dataplane.py), which the lifespan builds over the registry, with the
prediction log and shadow scoring as its observers.
"""

import gc
import sys
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse

from app import truth, webhook_receiver
from app.access import ApiKeyMiddleware, ConcurrencyLimitMiddleware, RateLimitMiddleware
from app.docs import install_offline_docs
from app.errors import install_error_handlers
from app.middleware import MetricsMiddleware, RequestIdMiddleware
from app.openapi import install_openapi
from app.protocols import predict, scoring, v2
from app.routes import router
from taller_mlflow.serving.build import build_dataplane, build_registry
from taller_mlflow.serving.metrics import registry_hooks
from taller_mlflow.serving.registry import ModelRegistry
from taller_mlflow.settings import Settings, get_settings

SWITCH_INTERVAL_SECONDS = 0.001


def start_prediction_log(settings: Settings):
    """The prediction log, when PREDICTION_LOG_URL is set; None otherwise."""
    if not settings.prediction_log_url:
        return None
    from taller_mlflow.monitoring.log import PredictionLog

    return PredictionLog.from_settings(settings)


def install_access(app: FastAPI, settings: Settings) -> None:
    """The limits and the keys, innermost first (the last added runs first): the concurrency
    limit, the rate limit (after the key, which names the client), the key, then CORS, so a
    browser's preflight is answered without one."""
    app.add_middleware(ConcurrencyLimitMiddleware, most=settings.max_concurrent_requests)
    if settings.rate_limit:
        app.add_middleware(RateLimitMiddleware, limit=settings.rate_limit)
    if settings.api_key_list:
        app.add_middleware(ApiKeyMiddleware, keys=settings.api_key_list)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Model", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )


def create_app(
    settings: Settings | None = None,
    registry: ModelRegistry | None = None,
    observers: list | None = None,
) -> FastAPI:
    """`registry` and `observers` (more data-plane observers, after the log and the shadow)
    are for tests; the API builds its registry from `settings`."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # While a scoring thread parses a large body it holds the GIL; the event loop asks for it
        # back after the switch interval. At Python's 5 ms, each of the loop's many GIL waits per
        # request added up to /health answering in 140 ms under 10,000-row batches; at 1 ms it
        # answers in a fraction of that (bench/liveness.py).
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        app.state.registry = registry or build_registry(settings, hooks=registry_hooks())
        await run_in_threadpool(app.state.registry.warm_up)
        prediction_log = app.state.prediction_log = start_prediction_log(settings)
        sink = prediction_log.observe if prediction_log is not None else None
        plane = app.state.plane = build_dataplane(settings, app.state.registry, sink)
        if prediction_log is not None:
            plane.observers.insert(0, prediction_log.observe)
        plane.observers.extend(observers or [])
        plane.start()
        # Everything alive now (modules, the app, the loaded graph) lives as long as the worker:
        # out of the collector's reach, a full collection scans only what requests allocate.
        # Before, each one scanned the imports' hundreds of thousands of objects and held the GIL
        # for about 140 ms, which /health waited out under 10,000-row batches (bench/liveness.py).
        gc.collect()
        gc.freeze()
        webhook_receiver.register_in_background(settings)
        yield
        await run_in_threadpool(plane.stop)  # shadow first: it writes shadow rows to the log
        if prediction_log is not None:  # a clean shutdown writes what is still queued
            plane.observers.remove(prediction_log.observe)
            await run_in_threadpool(prediction_log.close)
        if getattr(app.state, "feedback", None) is not None:
            app.state.feedback.close()

    app = FastAPI(
        title="Penguin species API",
        version="1.0.0",
        description="Predicts a Palmer penguin's species with the verified ONNX graphs of the "
        "models in the MLflow Model Registry.",
        lifespan=lifespan,
        default_response_class=JSONResponse,
    )
    app.state.settings = settings
    app.state.prediction_log = None  # the lifespan starts it when PREDICTION_LOG_URL is set
    app.state.deliveries = webhook_receiver.Deliveries()  # webhook ids seen: replays do nothing
    install_access(app, settings)
    app.add_middleware(MetricsMiddleware)  # refusals are counted too
    app.add_middleware(RequestIdMiddleware)  # outermost: every response carries X-Request-ID
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(predict.router)
    app.include_router(scoring.router)
    app.include_router(v2.router)
    app.include_router(webhook_receiver.router)
    app.include_router(truth.router)
    install_openapi(app)
    install_offline_docs(app)
    return app
