"""The registry's hot swap: a moved alias is served once its version loads, never before; only
served models are answered for; "not found" is remembered; unserved versions are dropped."""

import threading

import pytest

from taller_mlflow.serving.artifacts import NotServable
from taller_mlflow.serving.problems import ModelLoadFailed, ModelNotFound
from tests.support import wait_for
from tests.unit.serving_fixtures import unit_settings

UNVERIFIED = NotServable("no verified serving artifact")


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
    loader.broken[("modelo_penguins", broken)] = UNVERIFIED
    client.set_alias("modelo_penguins", "production", broken)
    registry.refresh()
    assert served_version(registry) == "2"
    assert registry.cache.failure("modelo_penguins", broken).reason.startswith("NotServable")
    assert registry.serving() == {"modelo_penguins": {"production": "2"}}


def test_the_next_good_version_is_picked_up_after_a_broken_one(client, loader, make_registry):
    registry = make_registry()
    broken = client.add_version("modelo_penguins")
    loader.broken[("modelo_penguins", broken)] = UNVERIFIED
    client.set_alias("modelo_penguins", "production", broken)
    registry.refresh()
    good = client.add_version("modelo_penguins")
    client.set_alias("modelo_penguins", "production", good)
    registry.refresh()
    assert served_version(registry) == good


def test_asking_for_a_broken_version_raises_model_load_failed(client, loader, make_registry):
    broken = client.add_version("modelo_penguins")
    loader.broken[("modelo_penguins", broken)] = UNVERIFIED
    registry = make_registry()
    with pytest.raises(ModelLoadFailed, match=f"modelo_penguins/{broken} cannot be loaded"):
        registry.get(registry.parse(f"modelo_penguins/{broken}"))


def test_the_background_refresh_survives_a_broken_production_version(client, loader, make_registry):
    """The bug: a broken version under @production killed the refresh thread for good, so a good
    version registered after it was never served."""
    registry = make_registry(unit_settings(model_refresh_seconds=0.02))
    registry.warm_up()
    registry.start()
    broken = client.add_version("modelo_penguins")
    loader.broken[("modelo_penguins", broken)] = UNVERIFIED
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
    loader.broken[("modelo_penguins", flaky)] = OSError("model.onnx truncated")
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
    registry = make_registry(
        unit_settings(served_models=",".join(["modelo_penguins"] + [f"m{i}" for i in range(40)]))
    )
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
    assert len(registry.serving()) == 41  # and the default, warmed up by refresh


def test_an_outage_keeps_serving_loaded_models(client, make_registry):
    registry = make_registry()
    assert served_version(registry) == "2"
    client.down = True
    registry.refresh()
    assert served_version(registry) == "2"


def test_a_model_not_served_here_is_not_found_without_a_registry_call(client, make_registry):
    client.add_version("other")
    registry = make_registry()
    with pytest.raises(ModelNotFound, match="not found: this API serves modelo_penguins") as raised:
        registry.get(registry.parse("other"))
    assert raised.value.served == ["modelo_penguins"]
    assert sum(client.calls.values()) == 0


def test_a_not_found_answer_is_remembered_for_its_ttl(client, make_registry):
    registry = make_registry(unit_settings(not_found_cache_seconds=60))
    for _ in range(20):
        with pytest.raises(ModelNotFound):
            registry.get(registry.parse("modelo_penguins/99"))
    assert client.calls["get_model_version"] == 1


def test_a_webhook_refresh_forgets_what_was_missing(client, make_registry):
    registry = make_registry(unit_settings(not_found_cache_seconds=60))
    with pytest.raises(ModelNotFound):
        registry.get(registry.parse("modelo_penguins@challenger"))
    client.set_alias("modelo_penguins", "challenger", "1")
    registry.refresh_model("modelo_penguins")
    assert registry.get(registry.parse("modelo_penguins@challenger"))[0].version == "1"


def test_an_alias_moved_onto_an_unverified_version_keeps_the_previous(
    client, loader, make_registry
):
    registry = make_registry()
    assert served_version(registry) == "2"
    unverified = client.add_version("modelo_penguins", verified=False)
    loader.broken[("modelo_penguins", unverified)] = UNVERIFIED
    client.set_alias("modelo_penguins", "production", unverified)
    registry.refresh()
    assert served_version(registry) == "2"
    assert registry.cache.failure("modelo_penguins", unverified) is not None


def test_a_version_nothing_serves_any_more_is_dropped_after_a_swap(client, make_registry):
    registry = make_registry()
    assert served_version(registry) == "2"
    client.set_alias("modelo_penguins", "production", client.add_version("modelo_penguins"))
    registry.refresh()
    assert [m.version for m in registry.loaded] == ["3"]


def test_a_version_another_reference_serves_is_kept_after_a_swap(client, make_registry):
    registry = make_registry()
    assert served_version(registry) == "2"
    assert served_version(registry, "modelo_penguins/2") == "2"
    client.set_alias("modelo_penguins", "production", client.add_version("modelo_penguins"))
    registry.refresh()
    assert sorted(m.version for m in registry.loaded) == ["2", "3"]


def test_the_challenger_is_an_alias_like_any_other(client, make_registry):
    registry = make_registry()
    assert registry.challenger("modelo_penguins") is None
    client.set_alias("modelo_penguins", "challenger", "1")
    registry.refresh_model("modelo_penguins")  # a webhook: the alias was created
    assert registry.challenger("modelo_penguins").version == "1"
    client.set_alias("modelo_penguins", "challenger", client.add_version("modelo_penguins"))
    registry.refresh()
    assert registry.challenger("modelo_penguins").version == "3"
    assert registry.serving()["modelo_penguins"] == {"production": "2", "challenger": "3"}


def test_a_deleted_alias_is_no_longer_served(client, make_registry):
    registry = make_registry()
    client.set_alias("modelo_penguins", "challenger", "1")
    assert registry.challenger("modelo_penguins").version == "1"
    client.delete_alias("modelo_penguins", "challenger")
    registry.refresh()
    assert registry.challenger("modelo_penguins") is None
    assert "challenger" not in registry.serving()["modelo_penguins"]
