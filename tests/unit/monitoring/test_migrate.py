"""`python -m taller_mlflow.monitoring.migrate URL`: the prediction log's schema by hand, on
SQLite (the PostgreSQL side, old rows and races: tests/integration/test_prediction_log_migrations.py)."""

import sqlalchemy as sa

from taller_mlflow.monitoring import migrate


def test_the_command_brings_an_empty_log_to_the_latest_revision_and_says_so(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'monitoring.db'}"
    assert migrate.main([url]) == 0
    assert capsys.readouterr().out == f"prediction log schema at {migrate.head()}\n"
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert migrate.current(conn) == migrate.head()
        assert sa.inspect(conn).has_table("prediction_log")
    engine.dispose()
    assert migrate.main([url]) == 0  # again: nothing to do


def test_a_database_that_cannot_be_opened_is_one_error_line(tmp_path, capsys):
    assert migrate.main([f"sqlite:///{tmp_path / 'no-such-folder' / 'monitoring.db'}"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and "unable to open database file" in line


def test_without_a_url_it_prints_its_usage(capsys):
    assert migrate.main([]) == 2
    assert "usage: python -m taller_mlflow.monitoring.migrate" in capsys.readouterr().err
