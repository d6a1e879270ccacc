"""Fixtures on real services: MariaDB data, and moto S3 + PostgreSQL + the MLflow server."""

import uuid

import pytest

from tests.support.mysql import INIT_SQL, mysql_connect, mysql_url, run_sql_text
from tests.support.services import start_stack


@pytest.fixture(scope="session")
def penguins_mysql_url(worker_id) -> str:
    """A fresh copy of `mydatabase` loaded by init.sql through the command-line client.

    Under pytest-xdist each worker gets its own copy (`mydatabase_gw0`, ...), so no worker drops
    the table another one is reading."""
    name = "mydatabase" if worker_id == "master" else f"mydatabase_{worker_id}"
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
    run_sql_text(INIT_SQL.read_text().replace("mydatabase", name))
    return mysql_url(name)


@pytest.fixture
def empty_mysql_url():
    name = f"empty_{uuid.uuid4().hex[:8]}"
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
        cur.execute(
            f"CREATE TABLE {name}.penguins (id INT PRIMARY KEY, species VARCHAR(16), island VARCHAR(16),"
            " culmen_length_mm DOUBLE, culmen_depth_mm DOUBLE, flipper_length_mm DOUBLE,"
            " body_mass_g DOUBLE, sex VARCHAR(8))"
        )
    yield mysql_url(name)
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {name}")


@pytest.fixture
def stack(tmp_path):
    s = start_stack(tmp_path / "stack")
    yield s
    s.close()
