"""MLflow's scoring protocol, as `mlflow models serve` speaks it: POST /invocations, GET /ping,
GET /version (GET /health is the API's own). A drop-in for its clients, over the registry.

MLflow's protocol has no field for the model: /invocations serves the default
(`modelo_penguins@production`), and `?model=NAME[@ALIAS|/VERSION]` or the header `X-Model` picks
another.
"""

from importlib.metadata import version

import orjson
from fastapi import APIRouter, Header, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.columns import features_from_columns
from app.events import alias_of, record
from app.limits import read_capped_body
from app.metrics import observe_labels
from app.openapi import SCORING_BODY
from app.predictor import is_cached, labels_of, score_columns
from app.protocols.errors import protocol_errors
from app.protocols.scoring_formats import parse_invocation

router = APIRouter(tags=["MLflow scoring protocol"])

MODEL_HELP = "NAME, NAME@ALIAS or NAME/VERSION; default: the configured model and alias"


@router.get("/ping", summary="MLflow scoring protocol: the server answers")
async def ping():
    return Response("\n", media_type="application/json")


@router.get(
    "/version", summary="MLflow scoring protocol: the MLflow version models are served with"
)
async def mlflow_version():
    return Response(version("mlflow"), media_type="application/json")


@router.post(
    "/invocations",
    summary="MLflow scoring protocol: predict species for a DataFrame (JSON or CSV)",
    openapi_extra={"requestBody": SCORING_BODY},
    responses={
        200: {"description": '{"predictions": ["Adelie", ...]}, one per row'},
        400: {"description": '{"error_code": "BAD_REQUEST", "message": names column and row}'},
        404: {"description": "unknown model (RESOURCE_DOES_NOT_EXIST)"},
        413: {"description": "too many rows or too large a body"},
        415: {"description": "not application/json or text/csv"},
        503: {"description": "registry unavailable, or the version cannot be loaded"},
    },
)
async def invocations(
    request: Request,
    model: str | None = Query(None, description=MODEL_HELP),
    x_model: str | None = Header(None, description=MODEL_HELP),
):
    settings, registry = request.app.state.settings, request.app.state.registry
    model_text = model or x_model
    with protocol_errors("mlflow"):
        raw = await read_capped_body(request, settings.protocol_max_body_bytes)
        columns = parse_invocation(raw, request.headers.get("content-type"))
        features = features_from_columns(columns, settings.protocol_max_rows)
        if is_cached(registry, model_text):
            served, resolution, proba = score_columns(registry, model_text, features)
        else:  # resolving or loading talks to MLflow: keep the event loop free
            served, resolution, proba = await run_in_threadpool(
                score_columns, registry, model_text, features
            )
    labels = labels_of(served, proba)
    request.scope.setdefault("state", {})["model"] = f"{served.name}/{served.version}"
    observe_labels(f"{served.name}/{served.version}", labels)
    alias = alias_of(registry, model_text, resolution)
    record(request, model=served, alias=alias, features=features, labels=labels, proba=proba)
    return Response(orjson.dumps({"predictions": labels}), media_type="application/json")
