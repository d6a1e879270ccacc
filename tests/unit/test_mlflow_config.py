"""configure_mlflow: the one place MLflow's client settings are applied; importing changes nothing."""

import json
import os
import subprocess
import sys

import mlflow
import pytest
from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_TIMEOUT
from mlflow.tracking._model_registry import utils as registry_utils
from mlflow.tracking._tracking_service import utils as tracking_utils

from taller_mlflow.mlflow_setup import configure_mlflow
from taller_mlflow.settings import Settings

PROXY_VARS = ("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD")
HTTP_VARS = (
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR",
)


@pytest.fixture(autouse=True)
def restore_process_state():
    """configure_mlflow changes process-global state: put the environment and MLflow's URIs back."""
    env = dict(os.environ)
    uris = (tracking_utils._tracking_uri, registry_utils._registry_uri)
    for name in PROXY_VARS + HTTP_VARS:
        os.environ.pop(name, None)
    yield
    os.environ.clear()
    os.environ.update(env)
    tracking_utils._tracking_uri, registry_utils._registry_uri = uris


def settings(**overrides) -> Settings:
    return Settings(_env_file=None, mlflow_tracking_uri="http://configured:5000", **overrides)


def test_sets_the_tracking_and_the_registry_uri():
    """Bug 5: `models:/` loads follow the registry URI, which must be the configured one too."""
    configure_mlflow(settings())
    assert mlflow.get_tracking_uri() == "http://configured:5000"
    assert mlflow.get_registry_uri() == "http://configured:5000"


def test_a_uri_set_only_in_dotenv_reaches_the_registry(tmp_path):
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        os.environ.pop(name, None)
    tracking_utils._tracking_uri = registry_utils._registry_uri = None
    dotenv = tmp_path / ".env"
    dotenv.write_text("MLFLOW_TRACKING_URI=http://only-in-dotenv:5000\n")
    configure_mlflow(Settings(_env_file=dotenv))
    assert mlflow.get_registry_uri() == "http://only-in-dotenv:5000"
    assert mlflow.get_tracking_uri() == "http://only-in-dotenv:5000"


def test_keeps_artifact_transfers_on_the_proxy_by_default():
    configure_mlflow(settings())
    assert {name: os.environ[name] for name in PROXY_VARS} == dict.fromkeys(PROXY_VARS, "false")


def test_does_not_override_a_users_explicit_multipart_choice():
    os.environ["MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD"] = "true"
    configure_mlflow(settings())
    assert os.environ["MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD"] == "true"
    assert os.environ["MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"] == "false"


def test_serving_takes_the_http_client_options_from_the_settings():
    configure_mlflow(
        settings(mlflow_request_timeout_seconds=2.5, mlflow_request_max_retries=3), serving=True
    )
    assert {name: os.environ[name] for name in HTTP_VARS} == {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "3",  # MLflow reads an int: rounded up
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }


def test_serving_timeout_is_a_whole_number_mlflow_can_parse():
    configure_mlflow(settings(), serving=True)  # the default, 10.0
    assert MLFLOW_HTTP_REQUEST_TIMEOUT.get() == 10


def test_training_leaves_the_http_client_options_to_mlflow():
    configure_mlflow(settings())
    assert not any(name in os.environ for name in HTTP_VARS)


def test_importing_the_package_changes_no_environment_variable():
    # The libraries are imported first: what they set on import is theirs, not ours.
    script = (
        "import json, os, matplotlib, mlflow, mlflow.sklearn, sklearn, tenacity;"
        "before = dict(os.environ);"
        "import taller_mlflow, taller_mlflow.settings, taller_mlflow.mlflow_setup,"
        " taller_mlflow.training.tracking, taller_mlflow.training.trainer;"
        "print(json.dumps(sorted(k for k in set(before) | set(os.environ)"
        " if before.get(k) != os.environ.get(k))))"
    )
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS + HTTP_VARS}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == []
