"""POST /predict, the workshop's own endpoint: one penguin or a list of them, each with an
optional `model`, answered in the same shape (the seed's contract, kept byte for byte).

A codec over the data plane: decode (read the capped body, validate each penguin with its Penguin
model, so a 422 names the field), score (penguins asking for different models are grouped, one
data-plane call per model), encode (one answer row per penguin, in order).
"""

from collections import defaultdict

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError

from app.errors import ApiError, field_errors_detail, json_response
from app.limits import read_capped_body
from app.middleware import context, served_by
from app.openapi import ERRORS, PREDICT_BODY_SCHEMA
from app.protocols.styles import predict_style, styled_route
from app.schemas import Penguin, Prediction, batch_adapter, describe_errors, penguin_adapter
from taller_mlflow.penguins import FEATURES
from taller_mlflow.serving.dataplane import Context, DataPlane, Scored

router = APIRouter(route_class=styled_route(predict_style, reference_status=422))


def parse_predict_body(raw: bytes, max_batch: int) -> tuple[list[Penguin], bool]:
    """The penguins in the body and whether it was a list (the answer keeps that shape)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from exc
    try:
        if isinstance(data, list):
            if not data:
                raise ApiError(422, "body: a batch needs at least one penguin")
            if len(data) > max_batch:
                raise ApiError(413, f"batch of {len(data)} penguins exceeds {max_batch}")
            return batch_adapter.validate_python(data), True
        return [penguin_adapter.validate_python(data)], False
    except ValidationError as exc:
        errors = describe_errors(exc)
        raise ApiError(422, field_errors_detail(errors), errors=errors) from exc


def answers(scored: Scored) -> list[dict]:
    """/predict's answer rows for one model's share of the penguins."""
    model, resolution, ref = scored.model, scored.resolution, scored.ref
    note = None
    if resolution.via == "latest":
        note = f"model {ref.name} has no alias '{ref.alias}': serving its latest version"
    common = {"model": model.name, "version": model.version, "resolved_by": resolution.via}
    classes = model.classes
    return [
        {
            "prediction": label,
            **common,
            "alias": scored.alias,
            "probabilities": dict(zip(classes, [round(p, 6) for p in row], strict=True)),
            "note": note,
        }
        for label, row in zip(scored.labels, scored.proba.tolist(), strict=True)
    ]


def score_penguins(plane: DataPlane, penguins: list[Penguin], ctx: Context):
    """(one answer per penguin, in order; the first group's Scored, for the metrics' label)."""
    groups: dict[str | None, list[int]] = defaultdict(list)
    for i, p in enumerate(penguins):
        groups[p.model].append(i)
    out: list[dict | None] = [None] * len(penguins)
    first = None
    for model_text, idx in groups.items():
        rows = [penguins[i].__dict__ for i in idx]
        columns = {c: [r[c] for r in rows] for c in FEATURES}
        scored = plane.score(model_text, columns, ctx, validated=True)
        first = first or scored
        for i, answer in zip(idx, answers(scored), strict=True):
            out[i] = answer
    return out, first


@router.post(
    "/predict",
    summary="Predict the species of one penguin, or of a list of penguins (same order)",
    response_model=Prediction | list[Prediction],
    responses=ERRORS,
    openapi_extra={"requestBody": PREDICT_BODY_SCHEMA},
)
async def predict(request: Request):
    settings, plane = request.app.state.settings, request.app.state.plane
    raw = await read_capped_body(request, settings.max_body_bytes)
    ctx = context(request)
    if len(raw) <= plane.inline_bytes:
        penguins, is_batch = parse_predict_body(raw, settings.max_batch_size)
        models = {p.model for p in penguins}
        results, first = await plane.run(
            lambda: score_penguins(plane, penguins, ctx), size=len(raw), models=models
        )
    else:

        def work():
            penguins, is_batch = parse_predict_body(raw, settings.max_batch_size)
            return *score_penguins(plane, penguins, ctx), is_batch

        results, first, is_batch = await plane.run(work, size=len(raw), models=None)
    served_by(request, first.served)
    return json_response(results if is_batch else results[0])
