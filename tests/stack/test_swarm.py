"""The serving tier on Docker Swarm, for real (marker `docker`): deploy/swarm/stack.yaml on a
single-node swarm, the API with 3 replicas behind HAProxy.

    pytest tests/stack/test_swarm.py -v

It builds the project's images with compose (the same tags as the compose stack, so a no-op
after tests/stack/test_stack.py), makes the engine a swarm if it is none (and leaves the swarm
at the end only then), deploys the stack as `taller-swarm-<pid>` with random passwords and the
proxy on port 28989, or on a free port when another run holds that one (SWARM_TEST_PORT pins
it), trains the quick grid in a one-off read-only container of
the training image (train/Dockerfile; the API image has no MLflow) on the stack's network, then
under a steady load (8 clients, 60 s each):
  - kills one API replica's container: swarm replaces it, and at most 0.5% of requests fail;
  - rolls the API service (`docker service update --force`, start-first): no request fails.
The measured numbers are printed. The stack, its network and volumes are removed afterwards.
Store and proxy images: MYSQL_IMAGE, POSTGRES_IMAGE, MINIO_IMAGE, HAPROXY_IMAGE, PYTHON_IMAGE
from the environment, else (as root) the stand-ins ../shared/standin-images/build makes.
"""

import os
import secrets
import time

import pytest
import requests

from taller_mlflow.local.servers import ROOT, free_port
from tests.support import wait_for
from tests.support.swarm import (
    Load,
    SwarmStack,
    build_images,
    checked,
    port_is_free,
    predict,
    require_engine,
    single_node_swarm,
    store_images,
    train,
)

pytestmark = pytest.mark.timeout(2700)

# per run, so a second checkout testing at the same time cannot remove this one's stack
STACK = f"taller-swarm-{os.getpid()}"
REPLICAS = 3
LOAD_SECONDS = 60
KILL_ERROR_BUDGET = 0.005
DEFAULT_PORT = 28989

REPORT = ROOT / "test-artifacts" / "swarm.txt"


def _settings(images: dict[str, str], port: int) -> dict[str, str]:
    return {
        **os.environ,
        **images,
        "MYSQL_ROOT_PASSWORD": secrets.token_hex(8),
        "MYSQL_USER": "taller",
        "MYSQL_PASSWORD": secrets.token_hex(8),
        "POSTGRES_PASSWORD": secrets.token_hex(8),
        "MONITORING_DB_PASSWORD": secrets.token_hex(8),
        "MINIO_ROOT_PASSWORD": secrets.token_hex(8),
        "MLFLOW_S3_SECRET_KEY": secrets.token_hex(16),
        # MLflow runs with basic auth, as in compose: mlflow-init makes these users
        "MLFLOW_AUTH_ADMIN_PASSWORD": secrets.token_hex(12),
        "MLFLOW_TRAINER_PASSWORD": secrets.token_hex(12),
        "MLFLOW_PROMOTER_PASSWORD": secrets.token_hex(12),
        "MLFLOW_READER_PASSWORD": secrets.token_hex(12),
        "MLFLOW_MONITOR_PASSWORD": secrets.token_hex(12),
        "MODEL_REFRESH_SECONDS": "5",
        "API_HOST_PORT": str(port),
    }


def _wait_for_stores(stack: SwarmStack) -> None:
    for service in ["mysql", "postgres", "minio", "mlflow"]:
        up = wait_for(lambda s=service: stack.running(s), timeout=600, interval=2)
        assert up, f"{service} never ran:\n{stack.logs(service)}"
    done = wait_for(lambda: stack.one_shot_done("minio-init"), timeout=300, interval=2)
    assert done, f"the bucket was never created:\n{stack.logs('minio-init')}"
    users = wait_for(lambda: stack.one_shot_done("mlflow-init"), timeout=600, interval=2)
    assert users, f"MLflow's users were never made:\n{stack.logs('mlflow-init')}"


def _servers_answering(url: str, tries: int = 30) -> set[str]:
    """The proxy's servers that answered a prediction with the right species."""
    seen = set()
    for _ in range(tries):
        try:
            response = predict(url)
        except requests.RequestException:
            continue  # the proxy's task is not up yet
        if response.status_code == 200 and response.json()["prediction"] == "Gentoo":
            seen.add(response.headers.get("X-Served-By", "?"))
    return seen


def _bring_up(stack: SwarmStack, train_image: str, phases: dict[str, float]) -> None:
    """Deploy, train once the stores and MLflow run, and wait until every replica predicts."""
    mark = time.monotonic()
    stack.deploy()
    _wait_for_stores(stack)
    phases["deploy"] = time.monotonic() - mark
    trained = train(stack, train_image)
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-3000:]
    phases["train"] = time.monotonic() - mark - phases["deploy"]
    warm = wait_for(lambda: len(_servers_answering(stack.url)) == REPLICAS, 300, 2)
    assert warm, f"not every replica predicts through the proxy:\n{stack.logs('proxy')}"


def _report(config: pytest.Config, line: str) -> None:
    """Print past pytest's capture: the measured numbers belong in CI's log. Under pytest-xdist a
    worker's output does not reach that log, so they also go to test-artifacts/swarm.txt."""
    with config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print(line, flush=True)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    with REPORT.open("a") as out:
        out.write(line.lstrip("\n") + "\n")


def _proxy_port() -> int:
    """SWARM_TEST_PORT when set (it must be free); else 28989, or any free port if that one is
    held, e.g. by another checkout's test run on the same machine."""
    pinned = os.environ.get("SWARM_TEST_PORT")
    if pinned:
        if not port_is_free(int(pinned)):
            pytest.fail(f"SWARM_TEST_PORT={pinned} is taken: unset it or pick a free port")
        return int(pinned)
    return DEFAULT_PORT if port_is_free(DEFAULT_PORT) else free_port()


@pytest.fixture(scope="module")
def stack(pytestconfig):
    started = time.monotonic()
    require_engine()
    port = _proxy_port()
    images = store_images()
    images.update(build_images(images))
    phases = {"images": time.monotonic() - started}
    with single_node_swarm():
        deployed = SwarmStack(STACK, _settings(images, port), port)
        try:
            _bring_up(deployed, images["TRAIN_IMAGE"], phases)
            yield deployed
        finally:
            deployed.remove()
    spent = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in phases.items())
    wall = time.monotonic() - started
    _report(pytestconfig, f"\nswarm test: {wall:.0f} s wall time in all ({spent})")


def test_three_replicas_answer_round_robin_through_the_proxy(stack):
    assert len(stack.running("api")) == REPLICAS
    assert len(_servers_answering(stack.url, tries=12)) == REPLICAS


def test_a_killed_replica_is_replaced_and_at_most_half_a_percent_of_requests_fail(
    stack, pytestconfig
):
    before = stack.running("api")
    victim = sorted(before)[0]
    with Load(stack.url) as load:
        time.sleep(5)
        killed_at = time.monotonic()
        checked(["docker", "kill", stack.container_of(victim)])
        replaced = wait_for(
            lambda: len(stack.running("api")) == REPLICAS and stack.running("api") != before,
            timeout=300,
            interval=1,
        )
        time.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - killed_at)))
    result = load.summary(start=killed_at)
    _report(pytestconfig, f"\nswarm kill: {result}")
    assert replaced, f"swarm did not replace the killed task:\n{stack.logs('api')}"
    assert victim not in stack.running("api")
    assert stack.task_state(victim) in {"failed", "shutdown"}
    assert result["requests"] > 0
    assert result["error_rate"] <= KILL_ERROR_BUDGET, result


def test_a_rolling_update_under_load_loses_no_request(stack, pytestconfig):
    before = stack.running("api")
    with Load(stack.url) as load:
        time.sleep(5)
        updated_at = time.monotonic()
        update = ["docker", "service", "update", "--force", "--detach=false"]
        rolled = checked([*update, stack.service("api")], timeout=1200)
        took = time.monotonic() - updated_at
        # The whole update under load, and at least the 60 s window.
        time.sleep(max(5.0, LOAD_SECONDS - took))
    result = {**load.summary(start=updated_at), "update_seconds": round(took, 1)}
    _report(pytestconfig, f"\nswarm rolling update: {result}")
    assert stack.update_state("api") == "completed", rolled[-2000:]
    after = stack.running("api")
    assert len(after) == REPLICAS and not after & before, (before, after)
    assert result["requests"] > 0
    assert result["failed"] == 0, result
