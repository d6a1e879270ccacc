"""MLflow registry webhooks: their signature, and registering the API's receiver idempotently.

MLflow 3.x (experimental, SQL backends only) POSTs a JSON body for each registry event to every
active webhook subscribed to it, from a thread pool, retrying 429/5xx and connection errors up to
MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES times. The headers follow Standard Webhooks:
X-MLflow-Delivery-Id, X-MLflow-Timestamp (Unix seconds) and
X-MLflow-Signature = "v1," + base64(HMAC-SHA256(secret, f"{delivery_id}.{timestamp}.{body}")).

The server side needs, besides a SQL backend (start_mlflow.sh passes these through):
  MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https   MLflow refuses http:// URLs by default
  MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true       and loopback / private addresses (the API's)
  MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY        a Fernet key the stored secrets are encrypted with;
      unset, each server process makes its own, and a secret stored by one worker (or before a
      restart) cannot be read by another: deliveries then fail.
  MLFLOW_WEBHOOK_CACHE_TTL                    seconds a server caches "who listens to this event"
      (60 by default: a webhook registered after an alias event may miss events for that long).

    python -m taller_mlflow.serving.webhooks --url http://api:8989/webhooks/mlflow   # secret from env
"""

import argparse
import base64
import contextlib
import hashlib
import hmac
import sys

from taller_mlflow.serving.mlflow_rest import MlflowRest
from taller_mlflow.serving.problems import ModelNotFound, RegistryUnavailable
from taller_mlflow.settings import Settings

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
EVENTS = ("model_version_alias.created", "model_version_alias.deleted")
NAME = "taller-api-alias-moves"
# MLflow's REST API names entities and actions by their proto enum names.
EVENT_OBJECTS = [
    {"entity": entity.upper(), "action": action.upper()}
    for entity, action in (event.split(".") for event in EVENTS)
]


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """MLflow's signature header value for this delivery."""
    content = delivery_id.encode() + b"." + timestamp.encode() + b"." + body
    digest = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_matches(
    secret: str, delivery_id: str, timestamp: str, body: bytes, header: str
) -> bool:
    """Constant-time check of a header that may list several space-separated signatures."""
    expected = sign(secret, delivery_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in header.split())


def ensure_webhook(tracking_uri: str, url: str, secret: str, rest: MlflowRest | None = None) -> str:
    """Make exactly one active webhook named NAME deliver EVENTS to `url` signed with `secret`.
    Returns "created" or "updated". Safe to run again, and from several processes at once.
    Raises RegistryUnavailable when MLflow refuses or cannot be reached."""
    rest = rest or MlflowRest(tracking_uri)
    ours = _ours(rest)
    if not ours:
        rest.create_webhook(
            {
                "name": NAME,
                "url": url,
                "events": EVENT_OBJECTS,
                "secret": secret,
                "status": "ACTIVE",
            }
        )
        ours, outcome = _ours(rest), "created"
    else:
        outcome = "updated"
    # Concurrent first runs may each create one: every run keeps the oldest, so they agree.
    keep, *extra = sorted(
        ours, key=lambda w: (int(w.get("creation_timestamp", 0)), w["webhook_id"])
    )
    for webhook in extra:
        with contextlib.suppress(ModelNotFound, RegistryUnavailable):  # deleted by another run
            rest.delete_webhook(webhook["webhook_id"])
    # The secret cannot be read back (MLflow never returns it), so it is always written.
    rest.update_webhook(
        keep["webhook_id"],
        {"url": url, "events": EVENT_OBJECTS, "secret": secret, "status": "ACTIVE"},
    )
    return outcome


def _ours(rest: MlflowRest) -> list[dict]:
    return [w for w in rest.list_webhooks() if w.get("name") == NAME]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="where MLflow should POST (default: TALLER_WEBHOOK_URL)")
    parser.add_argument("--tracking-uri", help="MLflow server (default: MLFLOW_TRACKING_URI)")
    args = parser.parse_args(argv)
    settings = Settings()
    url = args.url or settings.webhook_url
    tracking_uri = args.tracking_uri or settings.mlflow_tracking_uri
    if not url or not settings.webhook_secret:
        print("error: webhook: set TALLER_WEBHOOK_SECRET and --url (or TALLER_WEBHOOK_URL)")
        return 2
    try:
        outcome = ensure_webhook(tracking_uri, url, settings.webhook_secret)
    except (ModelNotFound, RegistryUnavailable) as exc:
        print(f"error: webhook: MLflow at {tracking_uri} refused {url}: {exc}")
        return 1
    print(f"webhook {NAME} {outcome}: {', '.join(EVENTS)} -> {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
