"""POST /webhooks/mlflow: MLflow says an alias moved, the API re-resolves that model at once.

The signature (taller_mlflow.serving.webhooks) is checked against TALLER_WEBHOOK_SECRET before the body
is parsed: no secret configured -> 404 (the receiver is off), signature headers missing -> 401,
a signature that does not match or a timestamp more than TOLERANCE_SECONDS away -> 403. A valid
`model_version_alias.created/.deleted` event is acknowledged with 202 and the model's aliases
are re-resolved right after the answer, off the event loop, by the same rule as the poll: the
new version is loaded and smoke-tested first, and a version that fails is never swapped in.
Other events are acknowledged (200) and ignored. Polling stays on as the fallback.

MLflow delivers one POST per event to one URL: with several uvicorn workers only the worker that
receives it swaps at once; the others swap at their next poll (MODEL_REFRESH_SECONDS).
"""

import logging
import threading
import time
from collections import OrderedDict

import orjson
from fastapi import APIRouter, BackgroundTasks, Request
from prometheus_client import Counter

from app.errors import ApiError, json_response
from app.limits import read_capped_body
from taller_mlflow.serving.problems import RegistryUnavailable
from taller_mlflow.serving.webhooks import (
    DELIVERY_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ensure_webhook,
    signature_matches,
)

log = logging.getLogger(__name__)

PATH = "/webhooks/mlflow"
TOLERANCE_SECONDS = 300  # Standard Webhooks' replay window
MAX_BODY_BYTES = 64_000  # an alias event is ~200 bytes
ALIAS_ENTITY = "model_version_alias"

WEBHOOKS = Counter(
    "api_webhooks_total",
    "MLflow webhook deliveries by outcome (accepted, ignored, unsigned, forged, stale, "
    "replayed, malformed, disabled)",
    ["outcome"],
)
WEBHOOK_REFRESHES = Counter(
    "api_webhook_refreshes_total", "Refreshes a webhook triggered, by result", ["result"]
)

router = APIRouter()


class Deliveries:
    """Delivery ids seen within the replay window: a signed delivery replayed (by an attacker who
    captured it, or MLflow retrying) is acknowledged once and acted on once. Each worker keeps its
    own ids; a replay to another worker re-resolves aliases, which changes nothing."""

    def __init__(self, window: float = TOLERANCE_SECONDS, most: int = 10_000):
        self.window, self.most = window, most
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, delivery_id: str, now: float) -> bool:
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - 2 * self.window:
                self._seen.popitem(last=False)
            if delivery_id in self._seen:
                return False
            self._seen[delivery_id] = now
            if len(self._seen) > self.most:
                self._seen.popitem(last=False)
            return True


def _refuse(outcome: str, status: int, detail: str) -> ApiError:
    WEBHOOKS.labels(outcome).inc()
    return ApiError(status, detail)


def verify(secret: str, headers, body: bytes, now: float) -> None:
    """Raise ApiError 401/403 unless MLflow signed `body` with `secret` within the window."""
    delivery_id = headers.get(DELIVERY_ID_HEADER)
    timestamp = headers.get(TIMESTAMP_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    if not (delivery_id and timestamp and signature):
        raise _refuse(
            "unsigned",
            401,
            f"webhook: {SIGNATURE_HEADER}, {TIMESTAMP_HEADER} and {DELIVERY_ID_HEADER} are required",
        )
    if not signature_matches(secret, delivery_id, timestamp, body, signature):
        raise _refuse("forged", 403, "webhook: signature does not match")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise _refuse("stale", 403, f"webhook: timestamp more than {TOLERANCE_SECONDS} s away")


def parse_event(body: bytes) -> tuple[str, str, dict]:
    """(entity, action, data) of a verified body; 400 naming what is wrong otherwise."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _refuse("malformed", 400, f"webhook: body is not JSON: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise _refuse("malformed", 400, "webhook: body needs an object `data`")
    entity, action = payload.get("entity"), payload.get("action")
    if not isinstance(entity, str) or not isinstance(action, str):
        raise _refuse("malformed", 400, "webhook: body needs string `entity` and `action`")
    return entity, action, payload["data"]


def refresh_now(app, name: str) -> None:
    """The swap itself, after the 202: re-resolve `name`'s alias references (its challenger's
    too) and forget what the API remembered as missing for it."""
    try:
        serving = app.state.registry.refresh_model(name)
    except Exception as exc:  # noqa: BLE001 - no caller to tell; the poll retries
        WEBHOOK_REFRESHES.labels("error").inc()
        log.warning("webhook refresh of %s failed: %s", name, exc)
        return
    WEBHOOK_REFRESHES.labels("ok").inc()
    log.info("webhook: %s serves %s", name, serving)


@router.post(
    PATH,
    status_code=202,
    summary="MLflow registry webhook: re-resolve a model's aliases now (signed, see docs/guide.md)",
    responses={401: {"description": "Unsigned"}, 403: {"description": "Bad signature or stale"}},
)
async def mlflow_webhook(request: Request, background: BackgroundTasks):
    secret = request.app.state.settings.webhook_secret
    if not secret:
        raise _refuse("disabled", 404, "webhooks are off: set TALLER_WEBHOOK_SECRET")
    body = await read_capped_body(request, MAX_BODY_BYTES)
    now = time.time()
    verify(secret, request.headers, body, now)
    delivery = request.headers[DELIVERY_ID_HEADER]
    if not request.app.state.deliveries.first_time(delivery, now):
        WEBHOOKS.labels("replayed").inc()  # 200: a sender retrying must stop, nothing is done
        return json_response({"accepted": False, "duplicate": delivery}, 200)
    entity, action, data = parse_event(body)
    if entity != ALIAS_ENTITY:
        WEBHOOKS.labels("ignored").inc()
        return json_response({"accepted": False, "ignored": f"{entity}.{action}"}, 200)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise _refuse("malformed", 400, "webhook: data.name must be the model's name")
    WEBHOOKS.labels("accepted").inc()
    background.add_task(refresh_now, request.app, name)
    return json_response(
        {
            "accepted": True,
            "event": f"{entity}.{action}",
            "model": name,
            "alias": data.get("alias"),
        },
        202,
    )


def register_in_background(settings) -> threading.Thread | None:
    """With TALLER_WEBHOOK_URL and the secret set (the stack), register the webhook with MLflow,
    retrying while MLflow is not up yet; never holds up the API's start."""
    if not (settings.webhook_url and settings.webhook_secret):
        return None
    import tenacity  # only when a webhook is registered: a worker's start-up is mostly imports

    @tenacity.retry(
        wait=tenacity.wait_exponential(multiplier=1, max=30),
        stop=tenacity.stop_after_delay(600),
        retry=tenacity.retry_if_exception_type((RegistryUnavailable, OSError)),
        before_sleep=lambda state: log.warning(
            "webhook registration: %s; retrying", state.outcome.exception()
        ),
        reraise=True,
    )
    def register() -> None:
        outcome = ensure_webhook(
            settings.mlflow_tracking_uri, settings.webhook_url, settings.webhook_secret
        )
        log.info("webhook %s: MLflow posts alias moves to %s", outcome, settings.webhook_url)

    def run() -> None:
        try:
            register()
        except Exception as exc:  # noqa: BLE001 - polling still swaps; say why once
            log.error("webhook not registered (polling still swaps): %s", exc)

    thread = threading.Thread(target=run, name="webhook-registration", daemon=True)
    thread.start()
    return thread
