"""The API's part of the attack suite, against a real API process over TCP (real MLflow server,
PostgreSQL, moto S3): each attack is refused, and the API keeps answering everyone else.

- a client hammering past its rate limit gets 429 with Retry-After, while another client (another
  address) is still served;
- a thousand idle connections held open leave /health answering;
- a captured, signed webhook delivery replayed changes nothing;
- with API keys on, no key or a wrong one gets 401 on every protocol.
(The pickle that runs code when loaded: tests/integration/test_unverified_versions.py.)
"""

import secrets
import socket
import time
from pathlib import Path

import httpx
import orjson
import pytest

from taller_mlflow.penguins import FEATURES
from taller_mlflow.serving.webhooks import sign
from tests.support import ADELIE, wait_for
from tests.support.promotion import MODEL, log_version, registry_client, start_api
from tests.support.services import start_stack

pytestmark = pytest.mark.security

SECRET = secrets.token_hex(16)
KEY = secrets.token_hex(16)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("attacks")
    stack = start_stack(workdir)
    apis = []
    try:
        version, _ = log_version(stack)
        registry_client(stack).set_registered_model_alias(MODEL, "production", version)
        common = {"TALLER_SHADOW_FRACTION": 0, "TALLER_WEBHOOK_SECRET": SECRET}
        limited = start_api(stack, workdir, "limited.log", TALLER_RATE_LIMIT="100/minute", **common)
        keyed = start_api(stack, workdir, "keyed.log", TALLER_API_KEYS=KEY, **common)
        apis += [limited[0], keyed[0]]
        yield {"limited": limited, "keyed": keyed}
    finally:
        for api in apis:
            api.stop()
        stack.close()


def test_a_client_past_its_rate_limit_gets_429_while_another_is_served(env):
    server, base = env["limited"]
    port = server.health_url.rsplit(":", 1)[1].split("/")[0]
    attacker = httpx.Client(base_url=base, timeout=30)
    # Linux routes all of 127.0.0.0/8 to loopback: the other client comes from 127.0.0.2.
    other = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        transport=httpx.HTTPTransport(local_address="127.0.0.2"),
        timeout=30,
    )
    with attacker, other:
        answers = [attacker.post("/predict", json=ADELIE).status_code for _ in range(1100)]
        refused = attacker.post("/predict", json=ADELIE)
        served = other.post("/predict", json=ADELIE)
        health = attacker.get("/health")
    assert answers.count(200) == 100 and answers.count(429) == 1000
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert served.status_code == 200 and served.json()["prediction"] == "Adelie"
    assert health.status_code == 200


def test_a_thousand_idle_connections_leave_health_answering(env):
    server, base = env["limited"]
    port = int(server.health_url.rsplit(":", 1)[1].split("/")[0])
    idle = []
    try:
        for _ in range(1000):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            idle.append(sock)  # connected, never sends a byte
        started = time.perf_counter()
        answer = httpx.get(f"{base}/health", timeout=30)
        seconds = time.perf_counter() - started
        prediction = httpx.post(f"{base}/predict", json=ADELIE, timeout=30)
    finally:
        for sock in idle:
            sock.close()
    assert answer.status_code == 200 and prediction.status_code in (200, 429)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "security.txt").write_text(
        f"/health with 1000 idle connections held open: {seconds * 1000:.1f} ms\n"
    )


def test_a_replayed_webhook_delivery_changes_nothing(env):
    _, base = env["limited"]
    body = orjson.dumps(
        {"entity": "model_version_alias", "action": "created", "data": {"name": MODEL}}
    )
    delivery, stamp = secrets.token_hex(8), str(int(time.time()))
    headers = {
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": stamp,
        "X-MLflow-Signature": sign(SECRET, delivery, stamp, body),
    }
    with httpx.Client(base_url=base, timeout=30) as http:
        first = http.post("/webhooks/mlflow", content=body, headers=headers)
        replays = [http.post("/webhooks/mlflow", content=body, headers=headers) for _ in range(5)]
        stale_stamp = str(int(time.time()) - 3600)
        stale = http.post(
            "/webhooks/mlflow",
            content=body,
            headers={
                **headers,
                "X-MLflow-Delivery-Id": "other",
                "X-MLflow-Timestamp": stale_stamp,
                "X-MLflow-Signature": sign(SECRET, "other", stale_stamp, body),
            },
        )
        metrics = http.get("/metrics").text
        # the refresh runs after the 202: wait for it, then check nothing more followed
        done = 'api_webhook_refreshes_total{result="ok"} 1.0'
        assert wait_for(lambda: done in http.get("/metrics").text, 30, 0.1)
        time.sleep(0.5)
        after = http.get("/metrics").text
    assert first.status_code == 202
    assert {r.status_code for r in replays} == {200}
    assert all(r.json() == {"accepted": False, "duplicate": delivery} for r in replays)
    assert stale.status_code == 403
    assert 'api_webhooks_total{outcome="replayed"} 5.0' in metrics
    assert done in after  # one refresh for six deliveries


def test_with_keys_on_every_protocol_refuses_a_missing_or_wrong_key(env):
    _, base = env["keyed"]
    split = {"dataframe_split": {"columns": FEATURES, "data": [[ADELIE[c] for c in FEATURES]]}}
    calls = [
        ("POST", "/predict", ADELIE),
        ("GET", "/listar_modelos", None),
        ("POST", "/invocations", split),
        ("POST", f"/v2/models/{MODEL}/infer", {"inputs": []}),
    ]
    with httpx.Client(base_url=base, timeout=30) as http:
        for method, path, body in calls:
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                answer = http.request(method, path, json=body, headers=headers)
                assert answer.status_code == 401, (path, headers, answer.text)
        good = http.post("/predict", json=ADELIE, headers={"Authorization": f"Bearer {KEY}"})
        assert good.status_code == 200 and http.get("/health").status_code == 200
