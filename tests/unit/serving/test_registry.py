"""The registry's hot swap: a moved alias is served once its version loads, never before."""

import pickle
import threading

import pytest

from taller_mlflow.serving import ModelLoadFailed
from tests.support import wait_for
from tests.unit.serving_fixtures import unit_settings


def served_version(registry, text="modelo_penguins") -> str:
    return registry.get(registry.parse(text))[0].version


def test_a_moved_alias_is_served_after_refresh(client, make_registry):
    registry = make_registry()
    assert served_version(registry) == "2"
    client.set_alias("modelo_penguins", "production", client.add_version("modelo_penguins"))
    registry.refresh()
    assert served_version(registry) == "3"


def test_refresh_keeps_the_old_version_when_the_new_one_cannot_load(client, loader, make_registry):
    registry = make_registry()
    assert served_version(registry) == "2"
    broken = client.add_version("modelo_penguins")
    loader.broken[("modelo_penguins", broken)] = pickle.UnpicklingError("invalid load key")
    client.set_alias("modelo_penguins", "production", broken)
    registry.refresh()
    assert served_version(registry) == "2"
    assert registry.cache.failure("modelo_penguins", broken).reason.startswith("UnpicklingError")
    assert registry.serving() == {"modelo_penguins": {"production": "2"}}


def test_the_next_good_version_is_picked_up_after_a_broken_one(client, loader, make_registry):
    registry = make_registry()
    broken = client.add_version("modelo_penguins")
    loader.broken[("modelo_penguins", broken)] = ModuleNotFoundError("No module named 'xgboost'")
    client.set_alias("modelo_penguins", "production", broken)
    registry.refresh()
    good = client.add_version("modelo_penguins")
    client.set_alias("modelo_penguins", "production", good)
    registry.refresh()
    assert served_version(registry) == good


def test_asking_for_a_broken_version_raises_model_load_failed(client, loader, make_registry):
    broken = client.add_version("modelo_penguins")
    loader.broken[("modelo_penguins", broken)] = pickle.UnpicklingError("invalid load key")
    registry = make_registry()
    with pytest.raises(ModelLoadFailed, match=f"modelo_penguins/{broken} cannot be loaded"):
        registry.get(registry.parse(f"modelo_penguins/{broken}"))


def test_the_background_refresh_survives_a_broken_production_version(client, loader, make_registry):
    """The bug: an unpicklable version under @production killed the refresh thread for good, so
    a good version registered after it was never served."""
    registry = make_registry(unit_settings(model_refresh_seconds=0.02))
    registry.warm_up()
    registry.start()
    broken = client.add_version("modelo_penguins")
    loader.broken[("modelo_penguins", broken)] = pickle.UnpicklingError("invalid load key, 'x'.")
    client.set_alias("modelo_penguins", "production", broken)
    assert wait_for(lambda: registry.cache.failure("modelo_penguins", broken), 10, 0.02)
    assert served_version(registry) == "2"
    good = client.add_version("modelo_penguins")
    client.set_alias("modelo_penguins", "production", good)
    assert wait_for(lambda: served_version(registry) == good, 10, 0.02)
    assert registry.refresher.alive


def test_a_failed_version_is_retried_by_the_refresher_and_served_once_it_loads(
    client, loader, make_registry
):
    registry = make_registry(
        unit_settings(model_refresh_seconds=0.02, model_load_retry_seconds=0.05)
    )
    registry.warm_up()
    registry.start()
    flaky = client.add_version("modelo_penguins")
    loader.broken[("modelo_penguins", flaky)] = OSError("model.pkl truncated")
    client.set_alias("modelo_penguins", "production", flaky)
    assert wait_for(lambda: loader.calls[("modelo_penguins", flaky)] >= 2, 10, 0.02)
    del loader.broken[("modelo_penguins", flaky)]
    assert wait_for(lambda: served_version(registry) == flaky, 10, 0.02)


def test_refresh_while_requests_add_references_never_raises(client, make_registry):
    """Request threads insert new references while the refresher walks them (the old code
    iterated the dict unlocked: "dictionary changed size during iteration")."""
    refs = []
    for i in range(40):
        version = client.add_version(f"m{i}")
        for a in range(25):
            client.set_alias(f"m{i}", f"a{a}", version)
            refs.append(f"m{i}@a{a}")
    registry = make_registry()
    started = threading.Barrier(4)

    def requests_arrive(offset):
        started.wait()
        for n in range(offset, offset + len(refs)):
            registry.resolve(registry.parse(refs[n % len(refs)]))

    threads = [threading.Thread(target=requests_arrive, args=(k * 333,)) for k in range(3)]
    for t in threads:
        t.start()
    started.wait()
    refreshes = 0
    while any(t.is_alive() for t in threads) or refreshes == 0:
        registry.refresh()
        refreshes += 1
    for t in threads:
        t.join()
    assert len(registry._resolutions) == len(refs) + 1  # and the default, warmed up by refresh


def test_an_outage_keeps_serving_loaded_models(client, make_registry):
    registry = make_registry()
    assert served_version(registry) == "2"
    client.down = True
    registry.refresh()
    assert served_version(registry) == "2"
