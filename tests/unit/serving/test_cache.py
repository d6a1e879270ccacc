"""Loading versions: once per version, at most max_models of them, failures recorded with backoff,
outages not held against one."""

import threading

import pytest

from taller_mlflow.serving.artifacts import NotServable
from taller_mlflow.serving.cache import ModelCache
from taller_mlflow.serving.manifest import ManifestError
from taller_mlflow.serving.onnx_model import GraphError
from taller_mlflow.serving.problems import ModelLoadFailed, RegistryUnavailable
from tests.unit.fakes import FakeLoader


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize(
    "error",
    [
        NotServable("m/3 has no verified serving artifact"),
        ManifestError("sha256 of model.onnx is 1234..., the version's tag says 5678..."),
        GraphError("onnxruntime cannot load the graph: protobuf parsing failed"),
    ],
    ids=["unverified", "sha256-mismatch", "not-a-graph"],
)
def test_a_version_that_cannot_be_loaded_is_recorded_with_its_reason(error):
    failures = []
    cache = ModelCache(FakeLoader({("m", "3"): error}), on_failure=failures.append)
    with pytest.raises(ModelLoadFailed) as raised:
        cache.load("m", "3")
    failure = cache.failure("m", "3")
    assert failure.attempts == 1
    assert failure.reason.startswith(type(error).__name__)
    assert failures == [failure]
    assert raised.value.failure is failure
    assert cache.get("m", "3") is None


def test_a_failed_version_is_not_fetched_again_until_its_backoff_passes():
    clock, loader = Clock(), FakeLoader({("m", "3"): EOFError("truncated")})
    cache = ModelCache(loader, retry_seconds=10, retry_max_seconds=25, clock=clock)
    for _ in range(3):
        with pytest.raises(ModelLoadFailed):
            cache.load("m", "3")
    assert loader.calls[("m", "3")] == 1
    clock.now += 10
    with pytest.raises(ModelLoadFailed):
        cache.load("m", "3")
    assert loader.calls[("m", "3")] == 2
    assert cache.failure("m", "3").retry_in == 20  # doubled


def test_backoff_doubles_up_to_its_cap():
    clock = Clock()
    cache = ModelCache(
        FakeLoader({("m", "3"): EOFError()}), retry_seconds=10, retry_max_seconds=25, clock=clock
    )
    waits = []
    for _ in range(4):
        with pytest.raises(ModelLoadFailed):
            cache.load("m", "3")
        waits.append(cache.failure("m", "3").retry_in)
        clock.now += waits[-1]
    assert waits == [10, 20, 25, 25]


def test_a_version_that_loads_on_retry_clears_its_failure():
    clock, loader = Clock(), FakeLoader({("m", "3"): EOFError()})
    cache = ModelCache(loader, retry_seconds=5, clock=clock)
    with pytest.raises(ModelLoadFailed):
        cache.load("m", "3")
    del loader.broken[("m", "3")]
    clock.now += 5
    assert cache.load("m", "3").version == "3"
    assert cache.failure("m", "3") is None


def test_a_registry_outage_while_loading_is_not_recorded_against_the_version():
    cache = ModelCache(FakeLoader({("m", "3"): RegistryUnavailable("MLflow down")}))
    with pytest.raises(RegistryUnavailable):
        cache.load("m", "3")
    assert cache.failure("m", "3") is None


def test_concurrent_requests_for_a_new_version_load_it_once():
    loader = FakeLoader()
    cache = ModelCache(loader)
    start = threading.Barrier(8)

    def load():
        start.wait()
        cache.load("m", "1")

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loader.calls[("m", "1")] == 1


def test_past_max_models_the_least_recently_used_version_is_dropped():
    cache = ModelCache(FakeLoader(), max_models=2)
    cache.load("m", "1")
    cache.load("m", "2")
    cache.get("m", "1")  # 1 is now more recent than 2
    cache.load("m", "3")
    assert [m.version for m in cache.loaded] == ["1", "3"]
    assert cache.evictions == 1


def test_an_evicted_version_loads_again_when_asked_for():
    loader = FakeLoader()
    cache = ModelCache(loader, max_models=1)
    cache.load("m", "1")
    cache.load("m", "2")
    assert cache.get("m", "1") is None
    assert cache.load("m", "1").version == "1"
    assert loader.calls[("m", "1")] == 2


def test_drop_forgets_a_loaded_version():
    cache = ModelCache(FakeLoader())
    cache.load("m", "1")
    assert cache.drop("m", "1") is True
    assert cache.get("m", "1") is None and cache.drop("m", "1") is False
