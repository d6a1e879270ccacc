"""The listing: every registered model, page after page, in a bounded number of calls."""

import pickle

import pytest

from taller_mlflow.serving.cache import ModelCache, ModelLoadFailed
from taller_mlflow.serving.catalogue import Catalogue
from tests.unit.fakes import FakeLoader, FakeMlflowClient


def catalogue_of(client, loader=None) -> Catalogue:
    return Catalogue(client, ModelCache(loader or FakeLoader()), "fake")


def test_describe_lists_all_120_models_past_the_default_page_size():
    client = FakeMlflowClient(page_cap=100)
    for i in range(120):
        client.add_version(f"model_{i:03d}", tags={"test_accuracy": 0.9})
    listed = catalogue_of(client).describe()
    assert [m["name"] for m in listed] == [f"model_{i:03d}" for i in range(120)]
    assert all(len(m["versions"]) == 1 for m in listed)


def test_describe_makes_a_bounded_number_of_calls_however_many_versions():
    client = FakeMlflowClient(page_cap=100)
    for i in range(120):
        for _ in range(3):
            client.add_version(f"model_{i:03d}")  # no accuracy tag: read from the runs
    catalogue_of(client).describe()
    # 2 pages of models, 4 of 360 versions, 1 of experiments, 4 batches of 100 runs
    assert client.calls["search_registered_models"] == 2
    assert client.calls["search_model_versions"] == 4
    assert client.calls["search_runs"] == 4
    assert client.calls["get_run"] == 0
    assert client.calls["get_model_version"] == 0


def test_model_names_reads_every_page():
    client = FakeMlflowClient(page_cap=100)
    for i in range(121):
        client.add_version(f"m{i:03d}")
    assert len(catalogue_of(client).model_names()) == 121


def test_a_promotions_lock_is_not_listed_as_a_model():
    client = FakeMlflowClient()
    client.add_version("modelo_penguins", tags={"test_accuracy": 0.99})
    client.models["modelo_penguins.promotion-lock"] = {"aliases": {}, "versions": {}}
    catalogue = catalogue_of(client)
    assert [m["name"] for m in catalogue.describe()] == ["modelo_penguins"]
    assert catalogue.model_names() == ["modelo_penguins"]


def test_accuracy_comes_from_the_version_tag_else_from_its_run():
    client = FakeMlflowClient()
    client.add_version("tagged", tags={"test_accuracy": 0.97})
    client.add_version("untagged")
    versions = {m["name"]: m["versions"][0] for m in catalogue_of(client).describe()}
    assert versions["tagged"]["test_accuracy"] == 0.97
    assert versions["untagged"]["test_accuracy"] == 0.5  # the fake run's metric
    assert client.calls["search_runs"] == 1


def test_a_version_that_failed_to_load_shows_its_error(client):
    loader = FakeLoader({("modelo_penguins", "1"): pickle.UnpicklingError("invalid load key")})
    catalogue = catalogue_of(client, loader)
    with pytest.raises(ModelLoadFailed):
        catalogue.cache.load("modelo_penguins", "1")
    catalogue.cache.load("modelo_penguins", "2")
    model = catalogue.describe({"modelo_penguins": {"production": "2"}})[0]
    by_version = {v["version"]: v for v in model["versions"]}
    assert by_version["1"]["load_error"]["reason"] == "UnpicklingError: invalid load key"
    assert by_version["1"]["load_error"]["attempts"] == 1
    assert by_version["1"]["loaded"] is False
    assert by_version["2"]["load_error"] is None
    assert by_version["2"]["loaded"] is True
    assert by_version["2"]["aliases"] == ["production"]
    assert model["serving"] == {"production": "2"}
