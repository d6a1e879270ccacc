"""MLflow's scoring protocol, as `mlflow models serve` speaks it: POST /invocations, GET /ping,
GET /version (GET /health is the API's own). A drop-in for its clients: a codec over the data
plane (parse the body into columns, score, encode the labels), errors in MLflow's shape.

MLflow's protocol has no field for the model: /invocations serves the default
(`modelo_penguins@production`), and `?model=NAME[@ALIAS|/VERSION]` or the header `X-Model` picks
another.
"""

import orjson
from fastapi import APIRouter, Header, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.limits import read_capped_body
from app.middleware import context, served_by
from app.openapi import SCORING_BODY
from app.protocols.scoring_formats import parse_invocation
from app.protocols.styles import mlflow_style, styled_route

router = APIRouter(tags=["MLflow scoring protocol"], route_class=styled_route(mlflow_style))
MODEL_HELP = "NAME, NAME@ALIAS or NAME/VERSION; default: the configured model and alias"


@router.get("/ping", summary="MLflow scoring protocol: the server answers")
async def ping():
    return Response("\n", media_type="application/json")


@router.get("/version", summary="MLflow scoring protocol: the version of the MLflow server")
async def mlflow_version(request: Request):
    """`mlflow models serve` answers its own MLflow version; this API has no MLflow in its
    process, so it answers the version of the tracking server it serves from."""
    server = await run_in_threadpool(request.app.state.registry.server_version)
    return Response(server, media_type="application/json")


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
    settings, plane = request.app.state.settings, request.app.state.plane
    model_text = model or x_model
    raw = await read_capped_body(request, settings.protocol_max_body_bytes)
    content_type, ctx = request.headers.get("content-type"), context(request)

    def work():
        return plane.score(model_text, parse_invocation(raw, content_type), ctx)

    scored = await plane.run(work, size=len(raw), models=[model_text])
    served_by(request, scored.served)
    return Response(orjson.dumps({"predictions": scored.labels}), media_type="application/json")
