"""Push-based hot swap against the real MLflow server (PostgreSQL backend) and the API over HTTP.

The API polls only every 600 s here, so any swap within the test's bounded waits came through
MLflow's signed webhook. The swap latency is measured and printed (and kept by `make bench`);
the assertions are on correctness: every move served, no request failed."""

import secrets
import time
import uuid

import httpx
import pytest

from taller_mlflow.serving.webhooks import EVENTS, NAME, ensure_webhook, sign
from tests.support import wait_for
from tests.support.promotion import (
    MODEL,
    Hammer,
    log_version,
    percentile,
    register_again,
    registry_client,
    served_version,
    start_api,
    start_webhook_stack,
    time_until_served,
)

SECRET = secrets.token_hex(16)
MOVES = 10
# A bound on each wait, not the target: with a 600 s poll only the webhook can swap within it.
SWAP_WAIT_SECONDS = 30


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("webhook")
    stack = start_webhook_stack(workdir)
    api = None  # stopped however the set-up ends: no server outlives a failed fixture
    try:
        first, _ = log_version(stack)
        second = register_again(stack, first)
        client = registry_client(stack)
        client.set_registered_model_alias(MODEL, "production", first)
        api, base = start_api(
            stack,
            workdir,
            TALLER_WEBHOOK_SECRET=SECRET,
            MODEL_REFRESH_SECONDS=600,
            TALLER_SHADOW_FRACTION=0,
        )
        url = f"{base}/webhooks/mlflow"
        outcomes = [ensure_webhook(stack.tracking_uri, url, SECRET) for _ in range(2)]
        http = httpx.Client(base_url=base, timeout=30)
        yield stack, client, http, base, (first, second), outcomes
        http.close()
    finally:
        if api is not None:
            api.stop()
        stack.close()


def test_registration_is_idempotent(env):
    stack, client, _, base, _, outcomes = env
    assert outcomes == ["created", "updated"]
    ours = [w for w in client.list_webhooks() if w.name == NAME]
    assert len(ours) == 1
    assert ours[0].url == f"{base}/webhooks/mlflow"
    assert sorted(f"{e.entity.value}.{e.action.value}" for e in ours[0].events) == sorted(EVENTS)
    assert client.test_webhook(ours[0].webhook_id).response_status == 202  # signed, verified


def test_ten_alias_moves_are_served_by_webhook_with_no_failed_request(env):
    _, client, http, base, (first, second), _ = env
    assert served_version(http) == first
    latencies = []
    with Hammer(base) as hammer:
        for move in range(MOVES):
            target = second if move % 2 == 0 else first
            started = time.perf_counter()
            client.set_registered_model_alias(MODEL, "production", target)
            took = time_until_served(http, target, started, SWAP_WAIT_SECONDS)
            assert took is not None, f"move {move} to v{target} not served in {SWAP_WAIT_SECONDS}s"
            latencies.append(took)
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    print(
        f"\nwebhook swap latency over {MOVES} moves: p50 {p50:.3f}s p95 {p95:.3f}s "
        f"max {max(latencies):.3f}s (target p95 <= 2 s); {hammer.requests} requests during swaps, "
        f"{len(hammer.failures)} failed"
    )
    assert hammer.failures == []
    assert hammer.versions == {first, second}
    assert hammer.requests > MOVES


def test_a_forged_webhook_is_refused_and_changes_nothing(env):
    stack, client, http, _, (first, second), _ = env
    (ours,) = [w for w in client.list_webhooks() if w.name == NAME]
    current = served_version(http)
    other = first if current == second else second
    client.update_webhook(ours.webhook_id, status="DISABLED")  # MLflow stays silent for a while
    try:
        time.sleep(2)  # MLflow's workers cache the webhook list for 1 s (MLFLOW_WEBHOOK_CACHE_TTL)
        client.set_registered_model_alias(MODEL, "production", other)
        body = (
            b'{"entity": "model_version_alias", "action": "created", "timestamp": "t", '
            b'"data": {"name": "%s", "alias": "production", "version": "%s"}}'
            % (MODEL.encode(), other.encode())
        )
        delivery, ts = str(uuid.uuid4()), str(int(time.time()))
        headers = {
            "X-MLflow-Delivery-Id": delivery,
            "X-MLflow-Timestamp": ts,
            "Content-Type": "application/json",
        }
        forged = http.post(
            "/webhooks/mlflow",
            content=body,
            headers={**headers, "X-MLflow-Signature": sign("guessed", delivery, ts, body)},
        )
        unsigned = http.post("/webhooks/mlflow", content=body, headers=headers)
        assert (forged.status_code, unsigned.status_code) == (403, 401)
        assert served_version(http) == current  # the alias did move: only a valid event swaps
        genuine = http.post(
            "/webhooks/mlflow",
            content=body,
            headers={**headers, "X-MLflow-Signature": sign(SECRET, delivery, ts, body)},
        )
        assert genuine.status_code == 202
        assert wait_for(lambda: served_version(http) == other, SWAP_WAIT_SECONDS, 0.05)
    finally:
        client.update_webhook(ours.webhook_id, status="ACTIVE")
    metrics = http.get("/metrics").text
    assert 'api_webhooks_total{outcome="forged"} 1.0' in metrics
    assert 'api_webhooks_total{outcome="unsigned"} 1.0' in metrics


def test_without_the_webhook_polling_still_swaps(env, tmp_path):
    stack, client, _, _, (first, second), _ = env
    api, base = start_api(stack, tmp_path, MODEL_REFRESH_SECONDS=1, TALLER_SHADOW_FRACTION=0)
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            current = served_version(http)
            other = first if current == second else second
            assert http.post("/webhooks/mlflow", content=b"{}").status_code == 404
            client.set_registered_model_alias(MODEL, "production", other)
            assert wait_for(lambda: served_version(http) == other, SWAP_WAIT_SECONDS, 0.2)
    finally:
        api.stop()
