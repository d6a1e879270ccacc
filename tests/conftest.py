"""Every test: the kind marker its folder gives it, and a clean client environment.

tests/unit         no service, in-process                       (no marker)
tests/static       config and lint checks with their tools      static
tests/integration  real MariaDB, PostgreSQL, S3, MLflow, API     services
tests/stack        the Docker Compose stack                      docker
"""

import os
from pathlib import Path

# MLflow's telemetry client sets and unsets _MLFLOW_TELEMETRY_SESSION_ID in os.environ from a
# background thread, so a test copying the environment meanwhile died with KeyError (seen in CI).
# Nothing here may reach the internet anyway.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import pytest
from xdist.scheduler import LoadScopeScheduling

TESTS = Path(__file__).resolve().parent
KIND_MARKERS = {"unit": None, "static": "static", "integration": "services", "stack": "docker"}


def _kind(item: pytest.Item) -> str:
    relative = Path(str(item.path)).resolve().relative_to(TESTS)
    kind = relative.parts[0]
    if kind not in KIND_MARKERS or len(relative.parts) < 2:
        raise pytest.UsageError(
            f"{item.nodeid}: tests live in one of tests/{{{','.join(KIND_MARKERS)}}}/"
        )
    return kind


# `make test` runs the suite on pytest-xdist workers. A unit of work is a test file, so its module
# fixtures (one MLflow server per file, say) are built once. Two folders are one unit each and run
# on a single worker, in file order: tests/stack (the Docker tests share container names and host
# ports) and tests/integration/make_run (its files share one `make run`, and the last one kills
# it). Units start in this order, the longest chains first: the Docker unit, then `make run`'s
# and the files known to take minutes.
KIND_ORDER = {"stack": 0, "integration": 1, "static": 2, "unit": 3}
SLOW_FILES = ("test_faults.py", "test_training_failures.py", "test_training.py", "test_dask.py")
SHARED_UNITS = ("tests/stack/", "tests/integration/make_run/")


def _order(item: pytest.Item, kind: str) -> tuple[int, int]:
    path = Path(str(item.path))
    slow = path.name in SLOW_FILES or path.parent.name == "make_run"
    return KIND_ORDER[kind], 0 if slow else 1


class FileOrFolderScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with a test's scope its file, or its folder in SHARED_UNITS."""

    def _split_scope(self, nodeid: str) -> str:
        folder = next((f for f in SHARED_UNITS if nodeid.startswith(f)), None)
        return folder or nodeid.split("::", 1)[0]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    return FileOrFolderScheduling(config, log)


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    kinds = {}
    for item in items:
        kind = kinds[item] = _kind(item)
        marker = KIND_MARKERS[kind]
        if marker:
            item.add_marker(marker)
    items.sort(key=lambda item: _order(item, kinds[item]))  # stable: a file keeps its order


@pytest.fixture(autouse=True, scope="session")
def _clients_hold_no_s3_credentials():
    """Tests act as clients: they must work with no S3 keys, as the notebook and API do."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
    saved.update({k: os.environ.pop(k) for k in ["MLFLOW_S3_ENDPOINT_URL"] if k in os.environ})
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    yield
    os.environ.update(saved)


MLFLOW_PROCESS_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_RUN_ID",
)
_BASELINE_ENV = {k: os.environ.get(k) for k in MLFLOW_PROCESS_ENV}


def _reset_mlflow_env() -> None:
    for key, value in _BASELINE_ENV.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def _no_mlflow_uri_leaks_between_tests():
    """mlflow.set_tracking_uri()/set_registry_uri() export env vars that child processes inherit;
    no test, nor a subprocess it starts, may talk to an earlier test's (stopped) server."""
    _reset_mlflow_env()
    yield
    _reset_mlflow_env()
