"""python -m taller_mlflow.monitor: its one-line errors and its empty-window pass, in process."""

import pytest

from taller_mlflow.monitoring import monitor_cli as monitor


@pytest.fixture(autouse=True)
def no_log_url(monkeypatch):
    monkeypatch.delenv("PREDICTION_LOG_URL", raising=False)


def test_without_a_prediction_log_it_says_which_setting_to_set(capsys):
    assert monitor.main(["--once"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "error: no prediction log: set PREDICTION_LOG_URL"


def test_a_bad_time_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        monitor.main(["--once", "--since", "yesterday"])
    assert exit_info.value.code == 2
    assert "not an ISO 8601 time: 'yesterday'" in capsys.readouterr().err


def test_an_empty_log_is_a_pass_with_nothing_to_check(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'monitoring.db'}"
    code = monitor.main(["--once", "--log-url", url, "--tracking-uri", "http://127.0.0.1:9"])
    assert code == 0
    assert capsys.readouterr().out.strip() == "no version predicted in the window"


def test_an_unreachable_log_database_fails_in_one_line(capsys):
    url = "postgresql+psycopg2://nobody:secret@127.0.0.1:9/monitoring"
    assert monitor.main(["--once", "--log-url", url]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("error: drift check (postgresql+psycopg2://nobody:***@127.0.0.1:9/")
    assert "secret" not in err and "OperationalError" in err


def test_naive_times_mean_utc():
    assert monitor._when("2026-05-01T12:00").utcoffset().total_seconds() == 0
    assert monitor._when("2026-05-01T12:00+02:00").utcoffset().total_seconds() == 7200


def test_a_tracking_uri_that_is_not_a_server_fails_in_one_line(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'monitoring.db'}"
    assert monitor.main(["--once", "--log-url", url, "--tracking-uri", "file:///tmp/mlruns"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: the monitoring job needs an MLflow server URL, not 'file:///tmp/mlruns' "
        "(set MLFLOW_TRACKING_URI)"
    )
