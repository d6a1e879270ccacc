"""register_and_promote against an in-memory registry, on a fake clock: its retry budget is bounded,
only transient errors are retried, the alias only ever lands on a READY version."""

import collections
import re

import pytest
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, TEMPORARILY_UNAVAILABLE

from taller_mlflow.training.tracking import RegistrationFailed, register_and_promote

NAME = "modelo_penguins"
RUN = "run-1"
URI = f"runs:/{RUN}/model"


def transient(message: str = "backend store unavailable") -> MlflowException:
    return MlflowException(message, error_code=TEMPORARILY_UNAVAILABLE)


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeRegistry:
    """The registry calls register_and_promote makes, in memory.

    A new version reports `statuses` on successive reads (the last one repeats). `fail[method]`
    holds exceptions the next calls of that method raise, in order. `log` records every call.
    """

    def __init__(self, statuses=("READY",)):
        self.statuses = statuses
        self.versions: dict[str, dict] = {}
        self.aliases: dict[str, str] = {}
        self.stages: dict[str, str] = {}
        self.fail: dict[str, list[Exception]] = collections.defaultdict(list)
        self.log: list[tuple] = []
        self.alias_writes_ignored = False

    def add(self, run_id: str, statuses=("READY",)) -> str:
        version = str(len(self.versions) + 1)
        self.versions[version] = {"run_id": run_id, "statuses": list(statuses), "tags": {}}
        return version

    def calls(self, method: str) -> int:
        return sum(1 for call in self.log if call[0] == method)

    def _call(self, method: str, *args) -> None:
        self.log.append((method, *args))
        if self.fail[method]:
            raise self.fail[method].pop(0)

    def _entity(self, version: str) -> ModelVersion:
        data = self.versions[version]
        status = data["statuses"].pop(0) if len(data["statuses"]) > 1 else data["statuses"][0]
        return ModelVersion(NAME, version, 0, run_id=data["run_id"], status=status)

    # --- mlflow.register_model, injected ------------------------------------------------------
    def register(self, model_uri: str, name: str) -> ModelVersion:
        self._call("register", model_uri)
        run_id = model_uri.split("/")[1]
        return ModelVersion(name, self.add(run_id, self.statuses), 0, run_id=run_id)

    # --- MlflowClient -------------------------------------------------------------------------
    def search_model_versions(self, filter_string: str) -> list[ModelVersion]:
        self._call("search_model_versions", filter_string)
        run_id = re.search(r"run_id='([^']+)'", filter_string)[1]
        return [
            ModelVersion(NAME, v, 0, run_id=run_id)
            for v, data in self.versions.items()
            if data["run_id"] == run_id
        ]

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        self._call("get_model_version", version)
        return self._entity(version)

    def delete_model_version(self, name: str, version: str) -> None:
        self._call("delete_model_version", version)
        del self.versions[version]

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._call("set_model_version_tag", version, key, value)
        self.versions[version]["tags"][key] = value

    def transition_model_version_stage(self, name, version, stage, archive_existing_versions):
        self._call("transition_model_version_stage", version, stage)
        self.stages[version] = stage

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        self._call("set_registered_model_alias", alias, version)
        if not self.alias_writes_ignored:
            self.aliases[alias] = version

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        self._call("get_model_version_by_alias", alias)
        return ModelVersion(NAME, self.aliases.get(alias, "0"), 0)


def register(registry: FakeRegistry, fake_time: FakeTime, **kwargs):
    return register_and_promote(
        registry,
        URI,
        RUN,
        NAME,
        "production",
        register=registry.register,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        **kwargs,
    )


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def test_a_version_stuck_pending_gives_up_within_the_120_s_budget_and_is_deleted(fake_time):
    """Bug 3: this used to take 5 attempts of up to 300 s each, about 25 minutes."""
    registry = FakeRegistry(statuses=("PENDING_REGISTRATION",))
    with pytest.raises(RegistrationFailed, match="PENDING_REGISTRATION"):
        register(registry, fake_time, timeout=120.0)
    assert 119.0 <= fake_time.now <= 120.0  # it waited for READY the whole budget, no longer
    assert registry.calls("register") == 1  # a version that never got READY is not retried
    assert registry.versions == {}  # deleted, not left half-registered
    assert registry.aliases == {}


def test_the_budget_is_the_timeout_given(fake_time):
    registry = FakeRegistry(statuses=("PENDING_REGISTRATION",))
    with pytest.raises(RegistrationFailed):
        register(registry, fake_time, timeout=10.0)
    assert 9.0 <= fake_time.now <= 10.0


def test_transient_errors_that_never_end_are_retried_only_within_the_budget(fake_time):
    registry = FakeRegistry()
    registry.fail["search_model_versions"] = [transient() for _ in range(100)]
    with pytest.raises(MlflowException, match="backend store unavailable"):
        register(registry, fake_time, timeout=120.0)
    assert fake_time.now <= 120.0
    assert fake_time.sleeps == [3, 6, 12, 24, 30, 30]  # backoff, then the next 30 s would overrun
    assert registry.calls("search_model_versions") == 7


def test_register_never_retries_a_non_transient_error(fake_time):
    registry = FakeRegistry()
    registry.fail["search_model_versions"] = [
        MlflowException("bad filter", error_code=INVALID_PARAMETER_VALUE)
    ]
    with pytest.raises(MlflowException, match="bad filter"):
        register(registry, fake_time)
    assert registry.calls("search_model_versions") == 1
    assert fake_time.sleeps == []


def test_a_failed_registration_is_deleted_and_not_retried(fake_time):
    registry = FakeRegistry(statuses=("PENDING_REGISTRATION", "FAILED_REGISTRATION"))
    with pytest.raises(RegistrationFailed, match="FAILED_REGISTRATION"):
        register(registry, fake_time)
    assert registry.calls("register") == 1
    assert registry.calls("delete_model_version") == 1
    assert registry.versions == {} and registry.aliases == {}
    assert fake_time.sleeps == [0.1]  # one short poll interval, then it gave up at once


def test_a_transient_error_then_success_retries_and_promotes_once(fake_time):
    registry = FakeRegistry()
    registry.fail["get_model_version"] = [transient()]
    version = register(registry, fake_time)
    assert str(version.version) == "1"
    assert registry.calls("register") == 1  # the retry reused the version the first attempt made
    assert list(registry.versions) == ["1"]
    assert registry.calls("set_registered_model_alias") == 1
    assert registry.aliases == {"production": "1"}
    assert registry.stages == {"1": "Production"}
    assert fake_time.sleeps == [3]


def test_an_existing_version_for_the_run_is_reused(fake_time):
    registry = FakeRegistry()
    registry.add("another-run")
    mine = registry.add(RUN)
    version = register(registry, fake_time)
    assert str(version.version) == mine == "2"
    assert registry.calls("register") == 0
    assert registry.aliases == {"production": "2"}


def test_the_alias_moves_only_once_the_version_is_ready(fake_time):
    registry = FakeRegistry(statuses=("PENDING_REGISTRATION",) * 3 + ("READY",))
    register(registry, fake_time)
    reads = [c for c in registry.log if c[0] in ("get_model_version", "set_registered_model_alias")]
    assert [c[0] for c in reads] == ["get_model_version"] * 4 + ["set_registered_model_alias"]
    assert fake_time.sleeps == pytest.approx([0.1, 0.2, 0.4])  # read at once, then sooner


def test_tags_are_on_the_version_before_the_alias_points_at_it(fake_time):
    registry = FakeRegistry()
    register(registry, fake_time, tags={"test_accuracy": 0.99})
    assert registry.versions["1"]["tags"] == {"test_accuracy": "0.99"}
    order = [c[0] for c in registry.log]
    assert order.index("set_model_version_tag") < order.index("set_registered_model_alias")


def test_an_alias_that_did_not_move_fails_without_retrying(fake_time):
    registry = FakeRegistry()
    registry.alias_writes_ignored = True
    with pytest.raises(RegistrationFailed, match="did not move"):
        register(registry, fake_time)
    assert registry.calls("set_registered_model_alias") == 1
    assert fake_time.sleeps == []


def test_a_pending_version_is_polled_at_once_then_at_growing_intervals_up_to_a_second(fake_time):
    registry = FakeRegistry(statuses=("PENDING_REGISTRATION",) * 8 + ("READY",))
    register(registry, fake_time)
    assert registry.calls("get_model_version") == 9
    assert fake_time.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0])
