from tests.unit.serving_fixtures import client, loader, make_registry  # noqa: F401
