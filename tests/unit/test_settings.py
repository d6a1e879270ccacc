"""Settings: each documented in .env.example and `--help`, generic names prefixed, known names plain."""

import re
from pathlib import Path

import pytest

from taller_mlflow.settings import PREFIX, Settings, documented, env_name, help_text

ROOT = Path(__file__).resolve().parents[2]
ENTRY = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
PLAIN = {
    "data_url": "DATA_URL",
    "mlflow_tracking_uri": "MLFLOW_TRACKING_URI",
    "experiment_name": "EXPERIMENT_NAME",
    "model_name": "MODEL_NAME",
    "model_alias": "MODEL_ALIAS",
    "model_refresh_seconds": "MODEL_REFRESH_SECONDS",
    "prediction_log_url": "PREDICTION_LOG_URL",
    "prediction_log_retention_days": "PREDICTION_LOG_RETENTION_DAYS",
}


@pytest.fixture
def clean_env(monkeypatch):
    """No setting leaks in from the machine's environment."""
    for _, env, _, _ in documented():
        monkeypatch.delenv(env, raising=False)
        monkeypatch.delenv(env.removeprefix(PREFIX), raising=False)
    return monkeypatch


def env_example_entries() -> dict[str, tuple[bool, str, str]]:
    """NAME -> (commented out, value, the comment line just above it)."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    entries = {}
    for above, line in zip(["", *lines], lines, strict=False):
        match = ENTRY.match(line)
        if match:
            entries[match[2]] = (bool(match[1]), match[3], above)
    return entries


def test_every_setting_has_a_one_line_description():
    for name, _, _, description in documented():
        assert description.strip(), f"{name} has no description"
        assert "\n" not in description, name


@pytest.mark.parametrize("name, env, default, description", documented())
def test_env_example_lists_the_setting_under_its_description(name, env, default, description):
    entries = env_example_entries()
    assert env in entries, f".env.example does not list {env} ({name})"
    commented, value, above = entries[env]
    assert above == f"# {description}", f".env.example: {env} is not under its description"
    if commented:  # a commented entry shows the default
        assert value == default, f".env.example: {env}={value}, default is {default}"


def test_generic_settings_read_only_the_prefixed_variable(clean_env):
    clean_env.setenv("SEED", "7")
    clean_env.setenv("API_WORKERS", "5")
    assert Settings(_env_file=None).seed == 42
    assert Settings(_env_file=None).api_workers == 1
    clean_env.setenv("TALLER_SEED", "9")
    clean_env.setenv("TALLER_API_WORKERS", "3")
    assert Settings(_env_file=None).seed == 9
    assert Settings(_env_file=None).api_workers == 3


def test_every_name_but_the_known_ones_carries_the_prefix():
    for name, env, _, _ in documented():
        assert env == PLAIN.get(name, PREFIX + name.upper())


def test_known_names_stay_plain(clean_env):
    values = {
        "DATA_URL": "sqlite:///elsewhere.db",
        "MLFLOW_TRACKING_URI": "http://mlflow.example:5000",
        "EXPERIMENT_NAME": "exp",
        "MODEL_NAME": "m",
        "MODEL_ALIAS": "staging",
        "MODEL_REFRESH_SECONDS": "1",
        "PREDICTION_LOG_URL": "sqlite:///log.db",
        "PREDICTION_LOG_RETENTION_DAYS": "7",
    }
    for key, value in values.items():
        clean_env.setenv(key, value)
    settings = Settings(_env_file=None)
    for name, env in PLAIN.items():
        assert str(getattr(settings, name)) in (values[env], values[env] + ".0")


def test_settings_are_read_from_a_dotenv_file(clean_env, tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("MLFLOW_TRACKING_URI=http://from-dotenv:5000\nTALLER_API_WORKERS=4\n")
    settings = Settings(_env_file=dotenv)
    assert settings.mlflow_tracking_uri == "http://from-dotenv:5000"
    assert settings.api_workers == 4


def test_code_passes_settings_by_attribute_name(clean_env):
    settings = Settings(_env_file=None, data_url="sqlite:///x.db", seed=1, model_alias="staging")
    assert (settings.data_url, settings.seed, settings.model_alias) == (
        "sqlite:///x.db",
        1,
        "staging",
    )


def test_serving_and_registration_settings_have_their_defaults(clean_env):
    settings = Settings(_env_file=None)
    assert settings.model_load_retry_seconds == 15.0
    assert settings.model_load_retry_max_seconds == 600.0
    assert settings.registration_timeout_seconds == 120.0
    assert settings.mlflow_request_timeout_seconds == 10.0
    assert settings.mlflow_request_max_retries == 1


def test_help_text_lists_every_variable_with_its_description():
    text = help_text()
    for _, env, default, description in documented():
        assert f"{env}={default}" in text
        assert description in text
    assert env_name("api_workers") == "TALLER_API_WORKERS"
