"""The endpoints: thin, each delegating to the registry, the limits or the predictor."""

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.errors import ApiError, json_response
from app.events import record_results
from app.limits import parse_predict_body, read_capped_body
from app.metrics import metrics_response, observe_predictions
from app.openapi import ERRORS, PREDICT_BODY_SCHEMA
from app.predictor import all_cached, predict_all
from app.schemas import ModelList, Prediction
from taller_mlflow.serving import ModelRegistry, RegistryUnavailable

router = APIRouter()


def _registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


@router.get("/health", summary="Liveness: the process answers")
async def health():
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: registry and artifact store reachable, default model loaded",
    responses={503: {"description": "Not ready"}},
)
async def ready(request: Request):
    registry = _registry(request)
    checks = await run_in_threadpool(registry.probe)  # registry_reachable, artifacts_reachable
    loaded = registry.default_loaded()
    body = {"ready": all(checks.values()) and loaded, **checks, "default_model_loaded": loaded}
    return json_response(body, 200 if body["ready"] else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics():
    return metrics_response()


@router.get(
    "/listar_modelos",
    response_model=ModelList,
    summary="Registered models: versions, aliases, stage, test accuracy, load state and errors",
    responses={503: ERRORS[503]},
)
async def listar_modelos(request: Request):
    try:
        models = await run_in_threadpool(_registry(request).describe)
    except RegistryUnavailable as exc:
        raise ApiError(503, str(exc)) from exc
    return json_response({"modelos_disponibles": [m["name"] for m in models], "modelos": models})


@router.post(
    "/predict",
    summary="Predict the species of one penguin, or of a list of penguins (same order)",
    response_model=Prediction | list[Prediction],
    responses=ERRORS,
    openapi_extra={"requestBody": PREDICT_BODY_SCHEMA},
)
async def predict(request: Request):
    settings, registry = request.app.state.settings, _registry(request)
    raw = await read_capped_body(request, settings.max_body_bytes)
    penguins, is_batch = parse_predict_body(raw, settings.max_batch_size)
    try:
        if all_cached(registry, penguins):
            results = predict_all(registry, penguins)
        else:  # resolving or loading talks to MLflow: keep the event loop free
            results = await run_in_threadpool(predict_all, registry, penguins)
    except RegistryUnavailable as exc:
        raise ApiError(503, f"model registry unavailable: {exc}") from exc
    request.scope.setdefault("state", {})["model"] = (
        f"{results[0]['model']}/{results[0]['version']}"
    )
    observe_predictions(results)
    record_results(request, penguins, results)
    return json_response(results if is_batch else results[0])
