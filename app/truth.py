"""POST /feedback, the true species of answered penguins, and GET /predictions/{request_id}, the
audit trail of one answer (docs/api.md).

/feedback is a thin codec over taller_mlflow.monitoring.feedback: decode the capped body, let the
store decide each label, encode. One label answers with its own status (201, or the 4xx naming what is wrong);
a list answers 200 when every label was stored, else 207 with each item's status, so a batch with
bad items keeps its good ones and says which were refused.
"""

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from app.errors import ApiError, error_response, json_response
from app.limits import read_capped_body
from taller_mlflow.serving.problems import ModelNotFound, RegistryUnavailable

router = APIRouter()


def feedback_store(request: Request):
    """The app's store, made at first use: the API without a prediction log never imports it."""
    state = request.app.state
    store = getattr(state, "feedback", None)
    if store is None:
        settings = state.settings
        if not settings.prediction_log_url:
            # Not an outage: this deployment has no log, so these resources do not exist here.
            raise ApiError(
                404, "no prediction log here (PREDICTION_LOG_URL is not set): no labels, no audit"
            )
        from taller_mlflow.monitoring.feedback import FeedbackStore

        store = state.feedback = FeedbackStore(
            settings.prediction_log_url, settings.prediction_log_retention_days
        )
    return store


def database_error(exc: Exception) -> ApiError:
    reason = (str(getattr(exc, "orig", exc)).splitlines() or [""])[0]
    return ApiError(503, f"the prediction log's database is unavailable: {reason[:200]}")


@router.post(
    "/feedback",
    summary="The true species of answered penguins: one label or a list (207 names bad items)",
    status_code=201,
    responses={
        207: {"description": "Some labels stored, some refused: each item's status"},
        404: {"description": "No such request id (or row) in the prediction log"},
        409: {"description": "That row already has a label"},
        410: {"description": "The request is older than the log's retention"},
        422: {"description": "Malformed label or unknown species"},
    },
)
async def post_feedback(request: Request):
    from sqlalchemy.exc import SQLAlchemyError

    from taller_mlflow.monitoring.feedback import FeedbackError, parse_items

    settings = request.app.state.settings
    raw = await read_capped_body(request, settings.max_body_bytes)
    try:
        items, is_batch = parse_items(orjson.loads(raw), settings.max_batch_size)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from exc
    except FeedbackError as exc:
        raise ApiError(exc.status, exc.detail) from exc
    store = feedback_store(request)
    try:
        await run_in_threadpool(store.record, items)
    except SQLAlchemyError as exc:
        raise database_error(exc) from exc
    if not is_batch:
        item = items[0].as_dict()
        if item["status"] != 201:
            return error_response(item["status"], item["detail"], item=item)
        return json_response(item, 201)
    bodies = [i.as_dict() for i in items]
    rejected = [b for b in bodies if b["status"] != 201]
    body = {"stored": len(bodies) - len(rejected), "rejected": rejected, "items": bodies}
    return json_response(body, 207 if rejected else 200)


@router.get(
    "/predictions/{request_id}",
    summary="Audit one answer: each row's inputs, answer, version and alias, label, and the "
    "promotion that put the version live",
    responses={
        404: {"description": "No such request id in the prediction log"},
        410: {"description": "The request is older than the log's retention"},
    },
)
async def prediction_audit(request: Request, request_id: str):
    from sqlalchemy.exc import SQLAlchemyError

    from taller_mlflow.monitoring.audit import request_rows
    from taller_mlflow.monitoring.feedback import SANE_ID, unknown_request

    if not SANE_ID.fullmatch(request_id):
        raise ApiError(422, "request_id: the X-Request-ID of an answer (1-64 of A-Z a-z 0-9 . _ -)")
    store = feedback_store(request)
    try:
        rows = await run_in_threadpool(request_rows, store.engine, request_id)
    except SQLAlchemyError as exc:
        raise database_error(exc) from exc
    if not rows:
        status, detail = unknown_request(request_id, store.retention_days, store.now())
        raise ApiError(status, detail)
    rest = request.app.state.registry.resolver.rest
    settings = request.app.state.settings
    promotions = await run_in_threadpool(promotions_for, rest, rows, settings.model_alias)
    return json_response({"request_id": request_id, "rows": rows, "promotions": promotions})


def promotions_for(rest, rows: list[dict], default_alias: str) -> dict:
    """ "model/version" -> what put it live before its first row here was answered; a registry
    that does not answer leaves an error in its place, the log's rows are still returned."""
    from taller_mlflow.serving.promotions import promotion_of

    out = {}
    for row in rows:
        key = f"{row['model']}/{row['version']}"
        if key in out:
            continue
        try:
            model_tags = rest.get_registered_model(row["model"]).tags
            version_tags = rest.get_model_version(row["model"], row["version"]).tags
        except (RegistryUnavailable, ModelNotFound) as exc:  # down, or a deleted version
            out[key] = {"error": str(exc)}
            continue
        alias = row["alias"] or default_alias
        out[key] = promotion_of(model_tags, version_tags, alias, row["version"], row["answered_at"])
    return out
