"""create_app(settings, registry): the API from its settings and, for tests, a ready registry."""

from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from app import metrics, webhook_receiver
from app.docs import install_offline_docs
from app.errors import install_error_handlers
from app.events import RequestIdMiddleware
from app.openapi import install_openapi
from app.protocols import scoring, v2
from app.protocols.errors import ProtocolError, protocol_error_response
from app.routes import router
from app.shadow import start_shadow, stop_shadow
from taller_mlflow.serving import ModelRegistry
from taller_mlflow.settings import Settings, get_settings


def registry_from_settings(settings: Settings) -> ModelRegistry:
    """The real one: MLflow configured once, the ONNX fast path, every hook counted."""
    from taller_mlflow.fastpath import compile_fast_path_in_background
    from taller_mlflow.mlflow_setup import configure_mlflow
    from taller_mlflow.serving.build import build_registry

    configure_mlflow(settings, serving=True)
    return build_registry(
        settings, compile_fast_path=compile_fast_path_in_background, hooks=metrics.registry_hooks()
    )


def start_prediction_log(app: FastAPI, settings: Settings):
    """The prediction log as an observer, when PREDICTION_LOG_URL is set; None otherwise."""
    if not settings.prediction_log_url:
        return None
    from taller_mlflow.monitoring.log import PredictionLog

    prediction_log = PredictionLog.from_settings(settings)
    app.state.prediction_observers.append(prediction_log.observe)
    return prediction_log


def create_app(settings: Settings | None = None, registry: ModelRegistry | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.registry = registry or registry_from_settings(settings)
        await run_in_threadpool(app.state.registry.warm_up)
        app.state.registry.start()
        prediction_log = start_prediction_log(app, settings)
        app.state.shadow = start_shadow(app, settings, prediction_log)
        webhook_receiver.register_in_background(settings)
        yield
        app.state.registry.stop()
        await run_in_threadpool(stop_shadow, app)  # before the log: it writes shadow rows there
        if prediction_log is not None:  # a clean shutdown writes what is still queued
            app.state.prediction_observers.remove(prediction_log.observe)
            await run_in_threadpool(prediction_log.close)

    app = FastAPI(
        title="Penguin species API",
        version="1.0.0",
        description="Predicts a Palmer penguin's species with models from the MLflow Model Registry.",
        lifespan=lifespan,
        default_response_class=JSONResponse,
    )
    app.state.settings = settings
    app.state.prediction_observers = []  # app/events.py; tests may append their own
    app.state.shadow = None  # app/shadow.py, set at start when TALLER_SHADOW_FRACTION > 0
    app.add_middleware(metrics.MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)  # outermost: every response carries X-Request-ID
    install_error_handlers(app)
    app.add_exception_handler(ProtocolError, protocol_error_response)
    app.include_router(router)
    app.include_router(scoring.router)
    app.include_router(v2.router)
    app.include_router(webhook_receiver.router)
    install_openapi(app)
    install_offline_docs(app)
    return app
