"""The API's own endpoints beside the protocols: health, readiness, metrics, the model listing."""

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.errors import ApiError, json_response
from app.middleware import metrics_response
from app.openapi import ERRORS
from app.schemas import ModelList
from taller_mlflow.serving.problems import RegistryUnavailable

router = APIRouter()


@router.get("/health", summary="Liveness: the process answers")
async def health():
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: registry and artifact store reachable, default model loaded",
    responses={503: {"description": "Not ready"}},
)
async def ready(request: Request):
    registry = request.app.state.registry
    checks = await run_in_threadpool(registry.probe)  # registry_reachable, artifacts_reachable
    loaded = registry.default_loaded()
    body = {"ready": all(checks.values()) and loaded, **checks, "default_model_loaded": loaded}
    body["threads"] = background_threads(request)  # details: a dead one is restarted within 1 s
    return json_response(body, 200 if body["ready"] else 503)


def background_threads(request: Request) -> dict[str, dict]:
    """Each background worker of this process: alive now, and restarts since it started."""
    plane, log = request.app.state.plane, request.app.state.prediction_log
    workers = {"model-refresh": request.app.state.registry.refresher}
    if plane.shadow is not None:
        workers["shadow"] = plane.shadow.thread
    if log is not None:
        workers["prediction-log"] = log
    return {name: {"alive": w.alive, "restarts": w.restarts} for name, w in workers.items()}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics():
    return metrics_response()


@router.get(
    "/listar_modelos",
    response_model=ModelList,
    summary="Served models: versions, aliases, test accuracy, verified graph, load state, errors",
    responses={503: ERRORS[503]},
)
async def listar_modelos(request: Request):
    try:
        models = await run_in_threadpool(request.app.state.plane.describe)
    except RegistryUnavailable as exc:
        raise ApiError(503, str(exc)) from exc
    return json_response({"modelos_disponibles": [m["name"] for m in models], "modelos": models})
