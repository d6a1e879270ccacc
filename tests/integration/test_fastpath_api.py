"""/listar_modelos says which inference each loaded version uses, on the real API process."""

import httpx
import mlflow

from taller_mlflow.fastpath import COMPILING, verification_rows
from taller_mlflow.local.servers import api_server, free_port
from taller_mlflow.training.trainer import pip_requirements
from tests.support import wait_for
from tests.support.models import FAILED, production_like, unconvertible


def register(name: str, sk_model) -> None:
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            sk_model,
            name="model",
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            pip_requirements=pip_requirements(),
            registered_model_name=name,
        )


def settled_inference(http: httpx.Client) -> dict[str, str] | None:
    """Each test model's inference engine, once neither is still being compiled."""
    listing = http.get("/listar_modelos").json()
    found = {
        m["name"]: m["versions"][0]["inference"]
        for m in listing["modelos"]
        if m["name"] in ("fast_ok", "fast_ko")
    }
    return found if len(found) == 2 and COMPILING not in found.values() else None


def test_listar_modelos_shows_which_inference_each_loaded_version_uses(stack, tmp_path):
    """Real MLflow (PostgreSQL + S3) and the real API process: one version compiles, one can't."""
    mlflow.set_tracking_uri(stack.tracking_uri)
    mlflow.set_registry_uri(stack.tracking_uri)
    mlflow.set_experiment("fastpath")  # not an experiment id left over from another test
    register("fast_ok", production_like())
    register("fast_ko", unconvertible())
    port = free_port()
    api = api_server(port, stack.tracking_uri, tmp_path / "api.log").start(timeout=120)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            penguin = verification_rows()[0]
            for name in ("fast_ok", "fast_ko"):
                response = http.post("/predict", json={**penguin, "model": name})
                assert response.status_code == 200, response.text
                assert response.json()["prediction"] == "Adelie"
            # compiling runs in the background
            inference = wait_for(lambda: settled_inference(http), 120)
    finally:
        api.stop()
    assert inference, "a version was still compiling after 120 s"
    assert inference["fast_ok"] == "onnxruntime"
    assert inference["fast_ko"].startswith(FAILED)
    log_text = (tmp_path / "api.log").read_text()
    assert "fast_ko/1: fast path disabled, serving with scikit-learn" in log_text
