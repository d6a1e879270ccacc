"""POST /webhooks/mlflow in process: MLflow's signature is checked before anything happens, and a
signed alias event re-resolves that model's aliases at once (no poll: refresh is 1 hour here)."""

import secrets
import time
import uuid

import orjson
import pytest
from fastapi.testclient import TestClient

from app.factory import create_app
from taller_mlflow.serving.metrics import registry_hooks
from taller_mlflow.serving.webhooks import sign
from tests.support import ADELIE
from tests.unit.serving_fixtures import unit_settings

SECRET = secrets.token_hex(16)


def alias_event(version: str = "3", action: str = "created") -> bytes:
    data = {"name": "modelo_penguins", "alias": "production"}
    if action == "created":
        data["version"] = version
    return orjson.dumps(
        {"entity": "model_version_alias", "action": action, "timestamp": "x", "data": data}
    )


def signed(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict:
    delivery, ts = str(uuid.uuid4()), str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": ts,
        "X-MLflow-Signature": sign(secret, delivery, ts, body),
    }


@pytest.fixture
def refreshes():
    return []


@pytest.fixture
def make_api(make_registry, refreshes):
    def make(secret: str = SECRET):
        settings = unit_settings(
            webhook_secret=secret, model_refresh_seconds=3600, shadow_fraction=0
        )
        registry = make_registry(settings, hooks=registry_hooks())
        real = registry.refresh_model

        def spy(name):
            refreshes.append(name)
            return real(name)

        registry.refresh_model = spy
        return TestClient(create_app(settings, registry))

    return make


def served(api) -> str:
    return api.post("/predict", json=ADELIE).json()["version"]


def webhook_count(api, outcome: str) -> float:
    for line in api.get("/metrics").text.splitlines():
        if line.startswith(f'api_webhooks_total{{outcome="{outcome}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_a_signed_alias_event_swaps_the_model_at_once(make_api, client, refreshes):
    with make_api() as api:
        assert served(api) == "2"
        client.set_alias("modelo_penguins", "production", client.add_version("modelo_penguins"))
        body = alias_event("3")
        response = api.post("/webhooks/mlflow", content=body, headers=signed(body))
        assert response.status_code == 202
        assert response.json() == {
            "accepted": True,
            "event": "model_version_alias.created",
            "model": "modelo_penguins",
            "alias": "production",
        }
        assert refreshes == ["modelo_penguins"]  # TestClient waits for the background task
        assert served(api) == "3"


def test_a_deleted_alias_event_is_accepted_and_keeps_serving(make_api, client, refreshes):
    with make_api() as api:
        assert served(api) == "2"
        del client.models["modelo_penguins"]["aliases"]["production"]
        body = alias_event(action="deleted")
        assert api.post("/webhooks/mlflow", content=body, headers=signed(body)).status_code == 202
        assert refreshes == ["modelo_penguins"]
        assert served(api) == "2"  # nothing better to serve: the loaded version stays


@pytest.mark.parametrize(
    "tamper, status, outcome",
    [
        (lambda body, h: {**h, "X-MLflow-Signature": sign("wrong", "a", "1", body)}, 403, "forged"),
        (lambda body, h: signed(body, secret=secrets.token_hex(16)), 403, "forged"),
        (lambda body, h: {**h, "X-MLflow-Timestamp": str(int(h["X-MLflow-Timestamp"]) + 1)}, 403,
         "forged"),  # the timestamp is signed: a replay with a fresh one does not match
        (lambda body, h: signed(body, timestamp=int(time.time()) - 3600), 403, "stale"),
        (lambda body, h: {"Content-Type": "application/json"}, 401, "unsigned"),
        (lambda body, h: {k: v for k, v in h.items() if k != "X-MLflow-Signature"}, 401,
         "unsigned"),
    ],
    ids=["bad-signature", "other-secret", "re-timestamped", "stale", "no-headers", "no-signature"],
)  # fmt: skip
def test_unsigned_forged_or_stale_events_are_refused_and_change_nothing(
    make_api, client, refreshes, tamper, status, outcome
):
    with make_api() as api:
        assert served(api) == "2"
        before = webhook_count(api, outcome)
        client.set_alias("modelo_penguins", "production", client.add_version("modelo_penguins"))
        body = alias_event("3")
        response = api.post("/webhooks/mlflow", content=body, headers=tamper(body, signed(body)))
        assert response.status_code == status
        assert response.json()["detail"].startswith("webhook")
        assert refreshes == []
        assert served(api) == "2"
        assert webhook_count(api, outcome) == before + 1


def test_a_tampered_body_does_not_match_its_signature(make_api, refreshes):
    with make_api() as api:
        headers = signed(alias_event("3"))
        response = api.post("/webhooks/mlflow", content=alias_event("1"), headers=headers)
    assert response.status_code == 403
    assert refreshes == []


def test_without_a_secret_the_receiver_is_off(make_api, refreshes):
    with make_api(secret="") as api:
        body = alias_event("3")
        response = api.post("/webhooks/mlflow", content=body, headers=signed(body, secret=""))
    assert response.status_code == 404
    assert "TALLER_WEBHOOK_SECRET" in response.json()["detail"]
    assert refreshes == []


def test_other_events_are_acknowledged_and_ignored(make_api, refreshes):
    body = orjson.dumps({"entity": "model_version", "action": "created", "data": {"name": "m"}})
    with make_api() as api:
        response = api.post("/webhooks/mlflow", content=body, headers=signed(body))
    assert response.status_code == 200
    assert response.json() == {"accepted": False, "ignored": "model_version.created"}
    assert refreshes == []


@pytest.mark.parametrize(
    "body, detail",
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "object `data`"),
        (b'{"entity": 1, "action": "created", "data": {}}', "string `entity`"),
        (b'{"entity": "model_version_alias", "action": "created", "data": {"alias": "a"}}',
         "data.name"),
    ],
)  # fmt: skip
def test_a_signed_but_malformed_body_gets_400_naming_the_problem(make_api, refreshes, body, detail):
    with make_api() as api:
        response = api.post("/webhooks/mlflow", content=body, headers=signed(body))
    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert refreshes == []


def test_an_oversized_body_is_refused_before_it_is_read(make_api, refreshes):
    body = b"x" * 100_000
    with make_api() as api:
        response = api.post("/webhooks/mlflow", content=body, headers=signed(body))
    assert response.status_code == 413
    assert refreshes == []


def test_a_replayed_delivery_is_acknowledged_and_changes_nothing(make_api, client, refreshes):
    body = alias_event("3")
    headers = signed(body)
    with make_api() as api:
        first = api.post("/webhooks/mlflow", content=body, headers=headers)
        replays = [api.post("/webhooks/mlflow", content=body, headers=headers) for _ in range(3)]
        replayed = webhook_count(api, "replayed")
    assert first.status_code == 202
    assert [r.status_code for r in replays] == [200] * 3
    assert replays[0].json() == {"accepted": False, "duplicate": headers["X-MLflow-Delivery-Id"]}
    assert refreshes == ["modelo_penguins"]  # acted on once
    assert replayed >= 3


def test_a_forged_delivery_does_not_burn_its_id_for_the_real_one(make_api, refreshes):
    body = alias_event("3")
    headers = signed(body)
    forged = {
        **headers,
        "X-MLflow-Signature": signed(body, secret="not-the-secret")["X-MLflow-Signature"],
    }
    with make_api() as api:
        assert api.post("/webhooks/mlflow", content=body, headers=forged).status_code == 403
        assert api.post("/webhooks/mlflow", content=body, headers=headers).status_code == 202
    assert refreshes == ["modelo_penguins"]
