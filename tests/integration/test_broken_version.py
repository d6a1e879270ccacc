"""A version whose verified graph was changed in the artifact store is never served: registered,
verified, then its model.onnx overwritten in the bucket, and pointed at by @production (the
webhook and the poll both bring it), the API refuses the graph whose sha256 no longer matches the
version's tag, keeps serving the previous version with no failed request, reports the failure in
/listar_modelos and /metrics, and serves the next good version normally. Real MLflow server,
real S3 (moto), the API over HTTP."""

import secrets

import httpx
import pytest

from tests.support import wait_for
from tests.support.promotion import (
    MODEL,
    Hammer,
    log_version,
    register_again,
    registry_client,
    served_version,
    start_api,
    start_webhook_stack,
)
from tests.support.services import BUCKET

SECRET = secrets.token_hex(16)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("broken")
    stack = start_webhook_stack(workdir, key_file=False)
    api = None  # stopped however the set-up ends: no server outlives a failed fixture
    try:
        good, _ = log_version(stack)
        client = registry_client(stack)
        client.set_registered_model_alias(MODEL, "production", good)
        # The retry backoff is long, so the one failure stays visible; the poll runs every 2 s.
        api, base = start_api(
            stack,
            workdir,
            TALLER_WEBHOOK_SECRET=SECRET,
            MODEL_REFRESH_SECONDS=2,
            TALLER_MODEL_LOAD_RETRY_SECONDS=300,
            TALLER_SHADOW_FRACTION=0,
        )
        from taller_mlflow.serving.webhooks import ensure_webhook

        ensure_webhook(stack.tracking_uri, f"{base}/webhooks/mlflow", SECRET)
        http = httpx.Client(base_url=base, timeout=30)
        yield stack, client, http, base, good
        http.close()
    finally:
        if api is not None:
            api.stop()
        stack.close()


def tampered_version(stack) -> str:
    """Log and verify a real model, then overwrite its verified graph in the bucket."""
    before = set(stack.bucket_keys())
    version, _ = log_version(stack)
    new = [k for k in stack.bucket_keys() if k not in before]
    (graph_key,) = [k for k in new if k.endswith(f"serving/{MODEL}/v{version}/model.onnx")]
    stack.s3_client().put_object(Bucket=BUCKET, Key=graph_key, Body=b"another graph")
    return version


def listing_versions(http) -> dict[str, dict]:
    model = next(m for m in http.get("/listar_modelos").json()["modelos"] if m["name"] == MODEL)
    return model, {v["version"]: v for v in model["versions"]}


def test_a_tampered_graph_is_never_served_and_the_next_good_version_is(env):
    stack, client, http, base, good = env
    assert served_version(http) == good
    broken = tampered_version(stack)
    with Hammer(base) as hammer:
        client.set_registered_model_alias(MODEL, "production", broken)

        def failure_reported():
            return listing_versions(http)[1][broken]["load_error"]

        error = wait_for(failure_reported, 30, 0.2)
        assert error, "the broken version's load failure never showed in /listar_modelos"
        assert error["reason"].startswith("ManifestError: sha256 of model.onnx"), error
        model, versions = listing_versions(http)
        assert model["aliases"]["production"] == broken
        assert model["serving"] == {"production": good}  # the API says it stayed on `good`
        assert versions[broken]["loaded"] is False
        assert served_version(http) == good
        metrics = http.get("/metrics").text
        assert f'api_model_load_failures_total{{model="{MODEL}",version="{broken}"}} 1.0' in metrics

        fixed = register_again(stack, good)
        client.set_registered_model_alias(MODEL, "production", fixed)
        assert wait_for(lambda: served_version(http) == fixed, 30, 0.1)
    assert hammer.failures == []
    assert broken not in hammer.versions
    assert hammer.versions >= {good, fixed}
