"""refresh_model (what a webhook triggers): one model's aliases re-resolved at once, by the poll's
rule: a version is swapped in only after it loaded and passed its smoke prediction."""

import threading

import numpy as np

from taller_mlflow.serving.artifacts import NotServable, ServedModel, smoke_check
from taller_mlflow.serving.build import build_registry
from tests.unit.fakes import FakeGraph, fake_manifest
from tests.unit.serving_fixtures import unit_settings


def served_version(registry, text="modelo_penguins") -> str:
    return registry.get(registry.parse(text))[0].version


class NaNGraph(FakeGraph):
    """Loads fine, predicts garbage: only the smoke prediction can tell."""

    def predict_proba(self, columns):
        return np.full((len(columns["island"]), 3), np.nan)


class OneColumnGraph(FakeGraph):
    def predict_proba(self, columns):
        return np.ones((len(columns["island"]), 1))


class OtherAnswerGraph(FakeGraph):
    """Answers the example with another class than the gate saw."""

    def predict_proba(self, columns):
        return np.tile([0.05, 0.9, 0.05], (len(columns["island"]), 1))


def test_refresh_model_swaps_a_moved_alias_at_once(client, make_registry):
    registry = make_registry()
    assert served_version(registry) == "2"
    client.set_alias("modelo_penguins", "production", client.add_version("modelo_penguins"))
    assert registry.refresh_model("modelo_penguins") == {"production": "3"}
    assert served_version(registry) == "3"


def test_refresh_model_touches_only_the_named_model(client, make_registry):
    client.set_alias("otro", "production", client.add_version("otro"))
    registry = make_registry(unit_settings(served_models="modelo_penguins,otro"))
    assert (served_version(registry), served_version(registry, "otro")) == ("2", "1")
    client.set_alias("otro", "production", client.add_version("otro"))
    client.set_alias("modelo_penguins", "production", client.add_version("modelo_penguins"))
    registry.refresh_model("otro")
    assert served_version(registry, "otro") == "2"
    assert served_version(registry) == "2"  # its alias moved too, but no event said so


def test_refresh_model_never_swaps_in_an_unverified_version(client, loader, make_registry):
    registry = make_registry()
    assert served_version(registry) == "2"
    broken = client.add_version("modelo_penguins", verified=False)
    loader.broken[("modelo_penguins", broken)] = NotServable("no verified serving artifact")
    client.set_alias("modelo_penguins", "production", broken)
    assert registry.refresh_model("modelo_penguins") == {"production": "2"}
    assert served_version(registry) == "2"
    assert registry.cache.failure("modelo_penguins", broken).reason.startswith("NotServable")


def test_a_version_failing_its_smoke_prediction_is_never_swapped_in(client):
    nan, narrow, other = (client.add_version("modelo_penguins") for _ in range(3))
    graphs = {nan: NaNGraph(), narrow: OneColumnGraph(), other: OtherAnswerGraph()}

    def loader(name, version):
        model = ServedModel(
            name, version, None, fake_manifest(name, version), graphs.get(version, FakeGraph())
        )
        smoke_check(model)  # what the artifact loader runs on every graph it loads
        return model

    registry = build_registry(unit_settings(), rest=client, loader=loader, probe=dict)
    assert served_version(registry) == "2"
    for bad, why in [(nan, "differ"), (narrow, "shape (1, 1)"), (other, "the gate saw")]:
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
