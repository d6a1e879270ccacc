"""Open Inference Protocol (V2 REST), as KServe, Triton and MLServer speak it, over the registry.

A version path segment that is not a number is an alias: `/v2/models/modelo_penguins/versions/
production/infer` serves `modelo_penguins@production`; so does the model name
`modelo_penguins@production`. A bare model name serves its default alias (else its latest version).
Inputs: one tensor per feature (island and sex BYTES, the measurements FP64/FP32/INT*), shape
[n] or [n, 1], in JSON or in the binary tensor data extension. Outputs: `label` (BYTES, [n]) and
`probabilities` (FP64, [n, classes], in the order of the metadata's `classes` parameter).
"""

import uuid

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.errors import json_response
from app.limits import read_capped_body
from app.middleware import context, served_by
from app.openapi import V2_INFER_BODY
from app.protocols.styles import styled_route, v2_style
from app.protocols.v2_tensors import (
    HEADER,
    encode_response,
    input_columns,
    split_body,
    wanted_outputs,
)
from taller_mlflow import __version__

router = APIRouter(
    prefix="/v2", tags=["Open Inference Protocol (V2)"], route_class=styled_route(v2_style)
)
OUTPUTS = ("label", "probabilities")
# The manifest's feature types (taller_mlflow/serving/manifest.py) as V2 datatypes.
V2_DATATYPES = {"string": "BYTES", "double": "FP64"}


def model_text(name: str, version: str | None) -> str:
    if version is None:
        return name
    return f"{name}/{version}" if version.isdigit() else f"{name}@{version}"


@router.get("", summary="V2: server metadata")
async def server_metadata():
    return {"name": "taller_mlflow", "version": __version__, "extensions": ["binary_tensor_data"]}


@router.get("/health/live", summary="V2: the server is live")
async def live():
    return {"live": True}


@router.get("/health/ready", summary="V2: the default model is loaded")
async def server_ready(request: Request):
    ready = request.app.state.registry.default_loaded()
    return json_response({"ready": ready}, 200 if ready else 503)


async def _loaded(request: Request, name: str, version: str | None):
    plane = request.app.state.plane
    ref = plane.parse(model_text(name, version))
    model, _ = await run_in_threadpool(plane.registry.get, ref)
    return model


async def metadata(request: Request, name: str, version: str | None = None):
    model = await _loaded(request, name, version)
    return {
        "name": name,
        "versions": [model.version],
        "platform": "onnxruntime",
        "inputs": [
            {"name": col, "datatype": V2_DATATYPES.get(kind, "BYTES"), "shape": [-1, 1]}
            for col, kind in model.inputs
        ],
        "outputs": [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(model.classes)]},
        ],
        "parameters": {"classes": model.classes},
    }


async def model_ready(request: Request, name: str, version: str | None = None):
    model = await _loaded(request, name, version)
    return {"name": name, "version": model.version, "ready": True}


async def infer(request: Request, name: str, version: str | None = None):
    settings, plane = request.app.state.settings, request.app.state.plane
    text = model_text(name, version)
    raw = await read_capped_body(request, settings.protocol_max_body_bytes)
    header, ctx = request.headers.get(HEADER), context(request)

    def work():
        body, binary = split_body(raw, header)
        outputs = wanted_outputs(body, OUTPUTS)
        return body, outputs, plane.score(text, input_columns(body, binary), ctx)

    body, outputs, scored = await plane.run(work, size=len(raw), models=[text])
    served_by(request, scored.served)
    labels, proba = scored.labels, scored.proba
    values = {
        "label": ("BYTES", [len(labels)], labels),
        "probabilities": ("FP64", list(proba.shape), proba.astype("<f8").ravel()),
    }
    head = {
        "model_name": name,
        "model_version": scored.model.version,
        "id": body.get("id") or str(uuid.uuid4()),
    }
    content, headers = encode_response(head, [(n, *values[n], b) for n, b in outputs])
    media = "application/octet-stream" if headers else "application/json"
    return Response(content, media_type=media, headers=headers)


INFER_DOC = {
    "summary": "V2: predict species from one tensor per feature",
    "openapi_extra": {"requestBody": V2_INFER_BODY},
}
for path in ("/models/{name}", "/models/{name}/versions/{version}"):
    router.add_api_route(path, metadata, methods=["GET"], summary="V2: model metadata")
    router.add_api_route(f"{path}/ready", model_ready, methods=["GET"], summary="V2: model ready")
    router.add_api_route(f"{path}/infer", infer, methods=["POST"], **INFER_DOC)
