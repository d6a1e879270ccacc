"""A model that runs code when it is unpickled is never loaded by the API, however it reaches it.

The "model" is a pickle whose loading writes a marker file. It is logged and registered as
anyone with write access to MLflow could: under a new name, and as a new version of
modelo_penguins that @production is moved onto by hand, past the gate. The API (a real process,
real MLflow server, moto S3) never writes the marker: it serves only graphs the gate verified,
keeps serving the previous verified version, and says which command would verify the new one.
"""

import secrets

import httpx
import pytest

from tests.support import ADELIE, wait_for
from tests.support.promotion import (
    MODEL,
    log_version,
    registry_client,
    served_version,
    start_api,
)
from tests.support.services import start_stack

pytestmark = pytest.mark.security

EVIL = "evil_model"


class Bomb:
    """Unpickling it runs `code`: it writes the marker file."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('loaded')",)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("unverified")
    marker = workdir / f"unpickled-{secrets.token_hex(4)}"
    stack = start_stack(workdir)
    apis = []
    try:
        good, _ = log_version(stack)  # verified through the gate's export
        client = registry_client(stack)
        client.set_registered_model_alias(MODEL, "production", good)
        evil, _ = log_version(stack, Bomb(str(marker)), name=EVIL, verified=False)
        settings = {"MODEL_REFRESH_SECONDS": 1, "TALLER_SHADOW_FRACTION": 0}
        default = start_api(stack, workdir, "api-default.log", **settings)
        apis.append(default[0])
        opened = start_api(
            stack, workdir, "api-opened.log", TALLER_SERVED_MODELS=f"{MODEL},{EVIL}", **settings
        )
        apis.append(opened[0])
        with (
            httpx.Client(base_url=default[1], timeout=30) as http,
            httpx.Client(base_url=opened[1], timeout=30) as http_opened,
        ):
            yield stack, client, http, http_opened, good, evil, marker
    finally:
        for api in apis:
            api.stop()
        stack.close()


def test_a_new_name_not_served_is_404_and_nothing_is_downloaded(env):
    stack, client, http, _, good, evil, marker = env
    answer = http.post("/predict", json={**ADELIE, "model": f"{EVIL}/{evil}"})
    assert answer.status_code == 404
    assert answer.json()["detail"] == f"model {EVIL} not found: this API serves {MODEL}"
    assert http.post(f"/invocations?model={EVIL}", json={"inputs": [ADELIE]}).status_code == 404
    assert http.post(f"/v2/models/{EVIL}/infer", json={"inputs": []}).status_code == 404
    assert not marker.exists()


def test_a_served_name_without_a_verified_graph_is_503_naming_the_command(env):
    stack, client, http, http_opened, good, evil, marker = env
    answer = http_opened.post("/predict", json={**ADELIE, "model": f"{EVIL}/{evil}"})
    assert answer.status_code == 503, answer.text
    detail = answer.json()["detail"]
    assert f"{EVIL}/{evil} has no verified serving artifact" in detail
    assert f"python -m taller_mlflow.promote --export {evil} --model {EVIL}" in detail
    listing = http_opened.get("/listar_modelos").json()["modelos"]
    version = next(m for m in listing if m["name"] == EVIL)["versions"][0]
    assert version["verified"] is False and version["loaded"] is False
    assert "no verified serving artifact" in version["load_error"]["reason"]
    assert not marker.exists()


def test_a_pickle_moved_onto_production_past_the_gate_is_never_loaded(env):
    stack, client, http, _, good, evil, marker = env
    bomb, _ = log_version(stack, Bomb(str(marker)), verified=False)
    client.set_registered_model_alias(MODEL, "production", bomb)

    def failure_listed():
        model = http.get("/listar_modelos").json()["modelos"][0]
        versions = {v["version"]: v for v in model["versions"]}
        return versions[bomb]["load_error"] and model

    model = wait_for(failure_listed, 30, 0.2)
    assert model, "the refresh never tried the new @production"
    assert model["aliases"]["production"] == bomb
    assert model["serving"] == {"production": good}  # the previous verified version serves
    assert served_version(http) == good
    assert (
        f"--export {bomb}"
        in {v["version"]: v for v in model["versions"]}[bomb]["load_error"]["reason"]
    )
    explicit = http.post("/predict", json={**ADELIE, "model": f"{MODEL}/{bomb}"})
    assert explicit.status_code == 503 and "no verified serving artifact" in explicit.text
    assert not marker.exists()


def test_forged_serving_tags_without_the_gates_files_still_load_nothing(env):
    stack, client, http, _, good, evil, marker = env
    forged, _ = log_version(stack, Bomb(str(marker)), verified=False)
    for key, value in {"serving.format": "onnx", "serving.sha256": "0" * 64}.items():
        client.set_model_version_tag(MODEL, forged, key, value)
    answer = http.post("/predict", json={**ADELIE, "model": f"{MODEL}/{forged}"})
    assert answer.status_code == 503, answer.text
    assert "missing" in answer.json()["detail"]
    assert not marker.exists()
