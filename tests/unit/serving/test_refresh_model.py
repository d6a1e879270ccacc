"""refresh_model (what a webhook triggers): one model's aliases re-resolved at once, by the poll's
rule: a version is swapped in only after it loaded and passed its smoke prediction."""

import pickle
import threading

import numpy as np

from taller_mlflow.serving.cache import Fetched
from tests.unit.fakes import SIGNATURE, FakePenguinModel


def served_version(registry, text="modelo_penguins") -> str:
    return registry.get(registry.parse(text))[0].version


class NaNModel(FakePenguinModel):
    """Unpickles fine, predicts garbage: only the smoke prediction can tell."""

    def predict_proba(self, frame):
        return np.full((len(frame), 3), np.nan)


class OneColumnModel(FakePenguinModel):
    def predict_proba(self, frame):
        return np.ones((len(frame), 1))


def test_refresh_model_swaps_a_moved_alias_at_once(client, make_registry):
    registry = make_registry()
    assert served_version(registry) == "2"
    client.set_alias("modelo_penguins", "production", client.add_version("modelo_penguins"))
    assert registry.refresh_model("modelo_penguins") == {"production": "3"}
    assert served_version(registry) == "3"


def test_refresh_model_touches_only_the_named_model(client, make_registry):
    client.set_alias("otro", "production", client.add_version("otro"))
    registry = make_registry()
    assert (served_version(registry), served_version(registry, "otro")) == ("2", "1")
    client.set_alias("otro", "production", client.add_version("otro"))
    client.set_alias("modelo_penguins", "production", client.add_version("modelo_penguins"))
    registry.refresh_model("otro")
    assert served_version(registry, "otro") == "2"
    assert served_version(registry) == "2"  # its alias moved too, but no event said so


def test_refresh_model_never_swaps_in_a_version_that_cannot_unpickle(client, loader, make_registry):
    registry = make_registry()
    assert served_version(registry) == "2"
    broken = client.add_version("modelo_penguins")
    loader.broken[("modelo_penguins", broken)] = pickle.UnpicklingError("invalid load key, 'x'.")
    client.set_alias("modelo_penguins", "production", broken)
    assert registry.refresh_model("modelo_penguins") == {"production": "2"}
    assert served_version(registry) == "2"
    assert registry.cache.failure("modelo_penguins", broken).reason.startswith("UnpicklingError")


def test_a_version_failing_its_smoke_prediction_is_never_swapped_in(client, make_registry):
    nan, narrow = client.add_version("modelo_penguins"), client.add_version("modelo_penguins")
    models = {nan: NaNModel(), narrow: OneColumnModel()}

    def loader(name, version):
        return Fetched(models.get(version, FakePenguinModel()), f"run-{version}", SIGNATURE)

    from taller_mlflow.serving.build import build_registry
    from tests.unit.serving_fixtures import unit_settings

    registry = build_registry(unit_settings(), client=client, loader=loader, probe=dict)
    assert served_version(registry) == "2"
    for bad, why in [(nan, "not probabilities"), (narrow, "shape (1, 1)")]:
        client.set_alias("modelo_penguins", "production", bad)
        registry.refresh_model("modelo_penguins")
        registry.refresh()  # the poll obeys the same rule
        assert served_version(registry) == "2"
        failure = registry.cache.failure("modelo_penguins", bad)
        assert "smoke prediction" in failure.reason and why in failure.reason
        assert registry.cache.get("modelo_penguins", bad) is None


def test_a_poll_that_read_the_alias_earlier_cannot_undo_a_webhook_swap(client, make_registry):
    """The poll reads @production (v3), a webhook then reports the move to v4: v4 must win."""
    registry = make_registry()
    served_version(registry)
    v3, v4 = client.add_version("modelo_penguins"), client.add_version("modelo_penguins")
    client.set_alias("modelo_penguins", "production", v3)
    read, release = threading.Event(), threading.Event()
    original = client.get_model_version_by_alias

    def slow_for_the_poll(name, alias):
        answer = original(name, alias)
        if threading.current_thread().name == "poll":
            read.set()
            release.wait(10)
        return answer

    client.get_model_version_by_alias = slow_for_the_poll
    poll = threading.Thread(target=registry.refresh, name="poll")
    poll.start()
    assert read.wait(10)
    client.set_alias("modelo_penguins", "production", v4)
    webhook = threading.Thread(target=registry.refresh_model, args=("modelo_penguins",))
    webhook.start()
    webhook.join(0.3)  # give an unserialised refresh the chance to finish first
    release.set()
    poll.join(10)
    webhook.join(10)
    assert served_version(registry) == v4
