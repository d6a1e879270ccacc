"""Fixtures for the in-process tests: the real serving core over a fake REST client and loader."""

import pytest

from taller_mlflow.serving.build import build_registry
from taller_mlflow.settings import Settings
from tests.unit.fakes import FakeLoader, FakeRest


def unit_settings(**overrides) -> Settings:
    values = {
        "mlflow_tracking_uri": "http://fake-mlflow:5000",
        "model_refresh_seconds": 0.05,
        "model_load_retry_seconds": 0.2,
        "model_load_retry_max_seconds": 1.0,
        "not_found_cache_seconds": 0.0,
        "listing_cache_seconds": 0.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
def client() -> FakeRest:
    """modelo_penguins v1, v2 with @production on v2."""
    fake = FakeRest()
    fake.add_version("modelo_penguins")
    fake.set_alias("modelo_penguins", "production", fake.add_version("modelo_penguins"))
    return fake


@pytest.fixture
def loader() -> FakeLoader:
    return FakeLoader()


@pytest.fixture
def make_registry(client, loader):
    made = []

    def make(settings: Settings | None = None, probe=None, hooks=None):
        registry = build_registry(
            settings or unit_settings(),
            rest=client,
            loader=loader,
            probe=probe or (lambda: {"registry_reachable": True, "artifacts_reachable": True}),
            hooks=hooks,
        )
        made.append(registry)
        return registry

    yield make
    for registry in made:
        registry.stop()
