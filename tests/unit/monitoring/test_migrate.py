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


def test_a_log_at_the_first_revision_gains_the_feedback_table_and_keeps_its_rows(tmp_path):
    from alembic import command

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'monitoring.db'}")
    with engine.begin() as conn:
        command.upgrade(migrate._config(conn, migrate.MIGRATIONS), "0001")
        conn.execute(
            sa.text(
                "INSERT INTO prediction_log (ts, request_id, endpoint, model_name, model_version,"
                " island, culmen_length_mm, culmen_depth_mm, flipper_length_mm, body_mass_g, sex,"
                " prediction, probabilities, latency_ms) VALUES ('2026-12-01 10:00:00', 'r1',"
                " '/predict', 'm', '1', 'Biscoe', 46.1, 13.2, 211, 4500, 'FEMALE', 'Gentoo',"
                " '{}', 1.0)"
            )
        )
    with engine.begin() as conn:
        assert migrate.current(conn) == "0001"
        assert not sa.inspect(conn).has_table("feedback")
        migrate.upgrade(conn)
    with engine.connect() as conn:
        assert migrate.current(conn) == migrate.head() == "0002"
        assert sa.inspect(conn).has_table("feedback")
        assert conn.execute(sa.text("SELECT request_id FROM prediction_log")).all() == [("r1",)]
    engine.dispose()
