"""The listing: the served models only, in a bounded number of registry calls, briefly cached."""

import pytest

from taller_mlflow.serving.artifacts import NotServable
from taller_mlflow.serving.cache import ModelCache
from taller_mlflow.serving.catalogue import Catalogue
from taller_mlflow.serving.problems import ModelLoadFailed
from tests.unit.fakes import FakeLoader, FakeRest


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def catalogue_of(client, loader=None, served=lambda name: True, ttl=0.0, clock=None):
    return Catalogue(client, ModelCache(loader or FakeLoader()), served, ttl, clock or Clock())


def test_only_the_served_models_are_listed():
    client = FakeRest()
    for name in ("modelo_penguins", "other", "modelo_penguins.promotion-lock"):
        client.add_version(name, tags={"test_accuracy": 0.9})
    listed = catalogue_of(client, served=lambda n: n == "modelo_penguins").describe()
    assert [m["name"] for m in listed] == ["modelo_penguins"]


def test_describe_makes_a_bounded_number_of_calls_however_many_versions():
    client = FakeRest()
    for i in range(120):
        for _ in range(3):
            client.add_version(f"model_{i:03d}")  # no accuracy tag: read from the runs
    catalogue_of(client).describe()
    assert client.calls["search_registered_models"] == 1
    assert client.calls["search_model_versions"] == 1
    assert client.calls["run_metric"] == 1
    assert client.calls["get_model_version"] == 0


def test_the_registrys_answer_is_reused_within_its_ttl():
    client, clock = FakeRest(), Clock()
    client.add_version("m", tags={"test_accuracy": 0.9})
    catalogue = catalogue_of(client, ttl=5.0, clock=clock)
    for _ in range(50):
        catalogue.describe()
    assert client.calls["search_registered_models"] == 1
    clock.now += 5.0
    catalogue.describe()
    assert client.calls["search_registered_models"] == 2
    catalogue.forget()  # a webhook: read again now
    catalogue.describe()
    assert client.calls["search_registered_models"] == 3


def test_accuracy_comes_from_the_version_tag_else_from_its_run():
    client = FakeRest()
    client.add_version("tagged", tags={"test_accuracy": 0.97})
    client.add_version("untagged")
    client.add_version("edited", tags={"test_accuracy": "high"})
    versions = {m["name"]: m["versions"][0] for m in catalogue_of(client).describe()}
    assert versions["tagged"]["test_accuracy"] == 0.97
    assert versions["untagged"]["test_accuracy"] == 0.5  # the fake run's metric
    assert versions["edited"]["test_accuracy"] is None  # a tag edited by hand: no 500


def test_each_version_says_whether_its_graph_is_verified():
    client = FakeRest()
    client.add_version("m")
    client.add_version("m", verified=False)
    by_version = {v["version"]: v for v in catalogue_of(client).describe()[0]["versions"]}
    assert by_version["1"]["verified"] is True and by_version["1"]["serving_sha256"]
    assert by_version["2"]["verified"] is False and by_version["2"]["serving_sha256"] is None


def test_a_version_that_failed_to_load_shows_its_error(client):
    loader = FakeLoader({("modelo_penguins", "1"): NotServable("no verified serving artifact")})
    catalogue = catalogue_of(client, loader)
    with pytest.raises(ModelLoadFailed):
        catalogue.cache.load("modelo_penguins", "1")
    catalogue.cache.load("modelo_penguins", "2")
    model = catalogue.describe({"modelo_penguins": {"production": "2"}})[0]
    by_version = {v["version"]: v for v in model["versions"]}
    assert by_version["1"]["load_error"]["reason"] == "NotServable: no verified serving artifact"
    assert by_version["1"]["load_error"]["attempts"] == 1
    assert by_version["1"]["loaded"] is False
    assert by_version["2"]["load_error"] is None
    assert by_version["2"]["loaded"] is True and by_version["2"]["inference"] == "onnxruntime"
    assert by_version["2"]["aliases"] == ["production"]
    assert model["serving"] == {"production": "2"}
