"""create_app(settings, registry): the API from its settings and, for tests, a ready registry."""

from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from app import metrics
from app.docs import install_offline_docs
from app.errors import install_error_handlers
from app.openapi import install_openapi
from app.protocols import scoring, v2
from app.protocols.errors import ProtocolError, protocol_error_response
from app.routes import router
from taller_mlflow.serving import ModelRegistry
from taller_mlflow.settings import Settings, get_settings


def registry_from_settings(settings: Settings) -> ModelRegistry:
    """The real one: MLflow configured once, the ONNX fast path, every hook counted."""
    from taller_mlflow.fastpath import compile_fast_path_in_background
    from taller_mlflow.mlflow_config import configure_mlflow
    from taller_mlflow.serving.build import build_registry

    configure_mlflow(settings, serving=True)
    return build_registry(
        settings, compile_fast_path=compile_fast_path_in_background, hooks=metrics.registry_hooks()
    )


def create_app(settings: Settings | None = None, registry: ModelRegistry | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.registry = registry or registry_from_settings(settings)
        await run_in_threadpool(app.state.registry.warm_up)
        app.state.registry.start()
        yield
        app.state.registry.stop()

    app = FastAPI(
        title="Penguin species API",
        version="1.0.0",
        description="Predicts a Palmer penguin's species with models from the MLflow Model Registry.",
        lifespan=lifespan,
        default_response_class=JSONResponse,
    )
    app.state.settings = settings
    app.add_middleware(metrics.MetricsMiddleware)
    install_error_handlers(app)
    app.add_exception_handler(ProtocolError, protocol_error_response)
    app.include_router(router)
    app.include_router(scoring.router)
    app.include_router(v2.router)
    install_openapi(app)
    install_offline_docs(app)
    return app
