"""The MariaDB/MySQL server the data tests use (127.0.0.1:3306, root, no password by default)."""

import os
import shutil
import subprocess
from pathlib import Path

import pymysql
import pytest

from taller_mlflow.local.servers import ROOT

MYSQL_HOST = os.environ.get("TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("TEST_MYSQL_USER", "root")
INIT_SQL = ROOT / "mysql-init" / "init.sql"


def mysql_client() -> str:
    client = shutil.which("mariadb") or shutil.which("mysql")
    if not client:
        pytest.fail("no mysql/mariadb client on PATH: apt-get install mariadb-client")
    return client


def run_sql_file(path: Path, database: str | None = None) -> None:
    run_sql_text(path.read_text(), database)


def run_sql_text(sql: str, database: str | None = None) -> None:
    cmd = [mysql_client(), "-h", MYSQL_HOST, "-P", str(MYSQL_PORT), "-u", MYSQL_USER]
    if database:
        cmd.append(database)
    subprocess.run(cmd, input=sql.encode(), check=True, capture_output=True, timeout=60)


def mysql_connect(database: str | None = None):
    return pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, database=database, autocommit=True
    )


def mysql_url(database: str) -> str:
    return f"mysql+pymysql://{MYSQL_USER}@{MYSQL_HOST}:{MYSQL_PORT}/{database}"
