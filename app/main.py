"""FastAPI service: list the registered penguin models and predict with any of them.

uvicorn app.main:app --port 8989        # or: python -m app (workers, port from settings)
"""

import logging
import os
from collections import defaultdict
from contextlib import asynccontextmanager

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from app.metrics import MetricsMiddleware, metrics_response, observe_load, observe_predictions
from taller_mlflow.fastpath import compile_fast_path_in_background
from taller_mlflow.schemas import (
    EXAMPLE_PENGUIN,
    ErrorBody,
    ModelList,
    Penguin,
    Prediction,
    batch_adapter,
    describe_errors,
    penguin_adapter,
)
from taller_mlflow.serving import ModelNotFound, ModelRegistry, RegistryUnavailable
from taller_mlflow.settings import Settings, get_settings

log = logging.getLogger("app")

# The API must answer quickly when MLflow is down: fail over to the cache instead of retrying.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


class ApiError(Exception):
    def __init__(self, status: int, detail: str, **extra):
        self.status, self.detail, self.extra = status, detail, extra


def json_response(content, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def error_response(status: int, detail: str, **extra) -> Response:
    return json_response(
        {"detail": detail, **{k: v for k, v in extra.items() if v is not None}}, status
    )


def build_registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry(
        tracking_uri=settings.mlflow_tracking_uri,
        default_model=settings.model_name,
        default_alias=settings.model_alias,
        refresh_seconds=settings.model_refresh_seconds,
        compile_fast_path=compile_fast_path_in_background,
        on_load=observe_load,
    )


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings = get_settings()
    registry = build_registry(settings)
    app.state.settings = settings
    app.state.registry = registry
    await run_in_threadpool(registry.warm_up)
    registry.start_refresh()
    yield
    registry.stop()


ERRORS = {
    400: {"model": ErrorBody, "description": "Body is not valid JSON"},
    404: {"model": ErrorBody, "description": "Unknown model or version"},
    413: {"model": ErrorBody, "description": "Body or batch too large"},
    422: {"model": ErrorBody, "description": "Invalid penguin: the message names the field"},
    503: {"model": ErrorBody, "description": "Registry unreachable and no cached model"},
}

app = FastAPI(
    title="Penguin species API",
    version="1.0.0",
    description="Predicts a Palmer penguin's species with models from the MLflow Model Registry.",
    lifespan=lifespan,
    default_response_class=JSONResponse,
)
app.add_middleware(MetricsMiddleware)


@app.exception_handler(ApiError)
async def _api_error(_: Request, exc: ApiError):
    return error_response(exc.status, exc.detail, **exc.extra)


@app.exception_handler(StarletteHTTPException)
async def _http_error(_: Request, exc: StarletteHTTPException):
    return error_response(exc.status_code, str(exc.detail))


@app.exception_handler(RequestValidationError)
async def _validation_error(_: Request, exc: RequestValidationError):
    errors = [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()]
    return error_response(
        422, "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
    )


@app.exception_handler(Exception)
async def _unexpected(_: Request, exc: Exception):
    log.exception("unhandled error")
    return error_response(500, "internal error")


@app.get("/health", summary="Liveness: the process answers")
async def health():
    return {"status": "ok"}


@app.get(
    "/ready",
    summary="Readiness: registry and artifact store reachable, default model loaded",
    responses={503: {"description": "Not ready"}},
)
async def ready(request: Request):
    registry: ModelRegistry = request.app.state.registry
    checks = await run_in_threadpool(registry.probe)  # registry_reachable, artifacts_reachable
    loaded = registry.default_loaded()
    body = {"ready": all(checks.values()) and loaded, **checks, "default_model_loaded": loaded}
    return json_response(body, 200 if body["ready"] else 503)


@app.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics():
    return metrics_response()


@app.get(
    "/listar_modelos",
    response_model=ModelList,
    summary="Registered models with versions, aliases, stage and test accuracy",
    responses={503: ERRORS[503]},
)
async def listar_modelos(request: Request):
    registry: ModelRegistry = request.app.state.registry
    try:
        models = await run_in_threadpool(registry.describe)
    except RegistryUnavailable as exc:
        raise ApiError(503, str(exc)) from exc
    return json_response({"modelos_disponibles": [m["name"] for m in models], "modelos": models})


PREDICT_BODY_SCHEMA = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/Penguin"},
                    {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Penguin"},
                        "minItems": 1,
                    },
                ]
            },
            "examples": {
                "one penguin": {"value": EXAMPLE_PENGUIN},
                "a batch": {
                    "value": [
                        EXAMPLE_PENGUIN,
                        {
                            **EXAMPLE_PENGUIN,
                            "island": "Biscoe",
                            "culmen_length_mm": 46.1,
                            "culmen_depth_mm": 13.2,
                            "flipper_length_mm": 211,
                            "body_mass_g": 4500,
                            "sex": "FEMALE",
                        },
                    ]
                },
            },
        }
    },
}


def parse_predict_body(raw: bytes, settings: Settings) -> tuple[list[Penguin], bool]:
    if len(raw) > settings.max_body_bytes:
        raise ApiError(413, f"body larger than {settings.max_body_bytes} bytes")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from exc
    try:
        if isinstance(data, list):
            if not data:
                raise ApiError(422, "body: a batch needs at least one penguin")
            if len(data) > settings.max_batch_size:
                raise ApiError(
                    413, f"batch of {len(data)} penguins exceeds {settings.max_batch_size}"
                )
            return batch_adapter.validate_python(data), True
        return [penguin_adapter.validate_python(data)], False
    except ValidationError as exc:
        errors = describe_errors(exc)
        raise ApiError(
            422, "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        ) from exc


def _predict_group(registry: ModelRegistry, model_text: str | None, penguins: list[Penguin]):
    try:
        ref = registry.parse(model_text)
    except ValueError as exc:
        raise ApiError(422, f"model: {exc}") from exc
    try:
        model, resolution = registry.get(ref)
    except ModelNotFound as exc:
        raise ApiError(404, str(exc), available_models=registry.model_names()) from exc
    # Hot path: the validated penguins' own field dicts (no copies; the fast path and the
    # scikit-learn DataFrame pick FEATURES from them), one vectorised argmax, plain floats.
    rows = [p.__dict__ for p in penguins]
    proba = model.predict_proba(rows)
    note = None
    if resolution.via == "latest":
        note = f"model {ref.name} has no alias '{ref.alias}': serving its latest version"
    classes = model.classes
    labels = np.asarray(classes, dtype=object)[proba.argmax(axis=1)].tolist()
    name, version, via = model.name, model.version, resolution.via
    alias = ref.alias if via == "alias" else None
    return [
        {
            "prediction": label,
            "model": name,
            "version": version,
            "resolved_by": via,
            "alias": alias,
            "probabilities": dict(zip(classes, [round(p, 6) for p in row], strict=True)),
            "note": note,
        }
        for label, row in zip(labels, proba.tolist(), strict=True)
    ]


def _cached(registry: ModelRegistry, model_text: str | None) -> bool:
    try:
        return registry.cached(registry.parse(model_text)) is not None
    except ValueError:
        return True  # _predict_group answers 422


def _predict_all(registry: ModelRegistry, penguins: list[Penguin]) -> list[dict]:
    groups: dict[str | None, list[int]] = defaultdict(list)
    for i, p in enumerate(penguins):
        groups[p.model].append(i)
    out: list[dict | None] = [None] * len(penguins)
    for model_text, idx in groups.items():
        for i, result in zip(
            idx, _predict_group(registry, model_text, [penguins[i] for i in idx]), strict=False
        ):
            out[i] = result
    return out


@app.post(
    "/predict",
    summary="Predict the species of one penguin, or of a list of penguins (same order)",
    response_model=Prediction | list[Prediction],
    responses={k: v for k, v in ERRORS.items()},
    openapi_extra={"requestBody": PREDICT_BODY_SCHEMA},
)
async def predict(request: Request):
    settings: Settings = request.app.state.settings
    registry: ModelRegistry = request.app.state.registry
    penguins, is_batch = parse_predict_body(await request.body(), settings)
    all_cached = all(_cached(registry, text) for text in {p.model for p in penguins})
    try:
        if all_cached:
            results = _predict_all(registry, penguins)
        else:  # resolving or loading talks to MLflow: keep the event loop free
            results = await run_in_threadpool(_predict_all, registry, penguins)
    except RegistryUnavailable as exc:
        raise ApiError(503, f"model registry unavailable: {exc}") from exc
    request.scope.setdefault("state", {})["model"] = (
        f"{results[0]['model']}/{results[0]['version']}"
    )
    observe_predictions(results)
    return json_response(results if is_batch else results[0])


def custom_openapi():
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(
        penguin_adapter.json_schema(
            ref_template="#/components/schemas/{model}", mode="validation"
        ).get("$defs", {})
    )
    components["Penguin"] = Penguin.model_json_schema(ref_template="#/components/schemas/{model}")
    app.openapi_schema = schema
    return schema


app.openapi = custom_openapi
