"""References and their resolution: aliases, versions, the latest-version fallback, error mapping."""

import pytest

from taller_mlflow.serving.problems import ModelNotFound, RegistryUnavailable
from taller_mlflow.serving.refs import ModelRef, Resolution, Resolver


def test_bare_name_means_the_default_alias_implicitly():
    ref = ModelRef.parse("modelo_penguins", "production")
    assert (ref.name, ref.alias, ref.version, ref.implicit_alias) == (
        "modelo_penguins",
        "production",
        None,
        True,
    )


def test_alias_and_version_references_are_explicit():
    assert ModelRef.parse("m@champion", "production") == ModelRef("m", "champion", None)
    assert ModelRef.parse("m/7", "production") == ModelRef("m", None, "7")


@pytest.mark.parametrize("text", ["", "m/x", "a@b@c", "m/1/2", "it's", 'say"hi'])
def test_malformed_references_are_refused_with_value_error(text):
    with pytest.raises(ValueError, match="NAME, NAME@ALIAS or NAME/VERSION"):
        ModelRef.parse(text, "production")


def test_default_alias_resolves_to_its_version(client):
    ref = ModelRef.parse("modelo_penguins", "production")
    assert Resolver(client).resolve(ref) == Resolution("modelo_penguins", "2", "alias")


def test_missing_default_alias_falls_back_to_the_latest_version(client):
    client.add_version("sin_alias")
    client.add_version("sin_alias")
    ref = ModelRef.parse("sin_alias", "production")
    assert Resolver(client).resolve(ref) == Resolution("sin_alias", "2", "latest")


def test_an_explicit_alias_that_does_not_exist_is_not_found(client):
    with pytest.raises(ModelNotFound, match="modelo_penguins@champion"):
        Resolver(client).resolve(ModelRef.parse("modelo_penguins@champion", "production"))


@pytest.mark.parametrize("text", ["nope", "nope@production", "nope/1", "modelo_penguins/9"])
def test_unknown_models_and_versions_are_not_found(client, text):
    with pytest.raises(ModelNotFound):
        Resolver(client).resolve(ModelRef.parse(text, "production"))


def test_an_unreachable_server_is_registry_unavailable_not_not_found(client):
    client.down = True
    with pytest.raises(RegistryUnavailable, match="MLflow at http://fake-mlflow"):
        Resolver(client).resolve(ModelRef.parse("modelo_penguins", "production"))
