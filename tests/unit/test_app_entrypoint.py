"""python -m app: host, port and workers from the settings, a flag wins; --help lists settings."""

import os

import pytest

import app.__main__ as entry
from taller_mlflow.settings import documented, get_settings


@pytest.fixture
def uvicorn_run(monkeypatch):
    """Capture what the entry point hands uvicorn, with the settings read afresh."""
    calls = []
    monkeypatch.setattr(entry.uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    for name in ("TALLER_API_HOST", "TALLER_API_PORT", "TALLER_API_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent-kept-as-is")
    monkeypatch.chdir(os.path.dirname(__file__))  # no .env here
    get_settings.cache_clear()
    yield calls
    get_settings.cache_clear()


def test_host_port_and_workers_come_from_the_settings(uvicorn_run, monkeypatch):
    monkeypatch.setenv("TALLER_API_HOST", "127.0.0.9")
    monkeypatch.setenv("TALLER_API_PORT", "9999")
    monkeypatch.setenv("TALLER_API_WORKERS", "3")
    entry.main([])
    [(app, kwargs)] = uvicorn_run
    assert app == "app.main:app"
    assert (kwargs["host"], kwargs["port"], kwargs["workers"]) == ("127.0.0.9", 9999, 3)


def test_flags_override_the_settings(uvicorn_run, monkeypatch):
    monkeypatch.setenv("TALLER_API_WORKERS", "3")
    entry.main(["--workers", "2", "--port", "8000", "--host", "127.0.0.1"])
    [(_, kwargs)] = uvicorn_run
    assert (kwargs["host"], kwargs["port"], kwargs["workers"]) == ("127.0.0.1", 8000, 2)


def test_several_workers_get_a_shared_metrics_directory(uvicorn_run, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    entry.main(["--workers", "2"])
    directory = os.environ.pop("PROMETHEUS_MULTIPROC_DIR")
    assert os.path.isdir(directory)
    os.rmdir(directory)


def test_one_worker_needs_no_metrics_directory(uvicorn_run, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    entry.main(["--workers", "1"])
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_help_lists_every_setting_with_its_variable_and_description(capsys):
    with pytest.raises(SystemExit) as exit_:
        entry.parse_args(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for _, env, default, description in documented():
        assert f"{env}={default}" in text
        assert description in text
