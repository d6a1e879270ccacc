"""`mlflow db upgrade` on the backend store, under a lock, before the server starts.

start_mlflow.sh runs this first (so compose, the host unit, Swarm and `make run` all do): a
server must not meet a schema older than its MLflow (it refuses to serve one), and two servers
starting together must not migrate at once (MLflow's migrations are not transactional). The
lock, by backend:

- PostgreSQL: `pg_advisory_lock` on one connection, held while this process migrates; servers on
  other hosts sharing the database wait for it too (Swarm, two host units).
- MySQL / MariaDB: `GET_LOCK`, the same on a named lock.
- SQLite: `flock` on `<database file>.upgrade-lock` beside it (only one host can open the file).

The upgrade itself is `mlflow db upgrade`'s own code (mlflow.db.upgrade), run in process so the
URL, with its password, is never on a command line. A database already at the installed MLflow's
latest revision (read from its migration files, without importing MLflow: that import alone
costs each start about 2.5 s) is left alone without taking the lock. The URL comes from
MLFLOW_BACKEND_STORE_URI; a store that is not a database is left alone.

    MLFLOW_BACKEND_STORE_URI=postgresql+psycopg2://... python mlflow/db_upgrade.py
"""

import contextlib
import fcntl
import importlib.util
import os
import re
import sys
import time
import zlib

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

SQL_SCHEMES = ("postgresql", "mysql", "sqlite", "mssql")
LOCK_NAME = "mlflow_db_upgrade"
WAIT_SECONDS = int(os.environ.get("MLFLOW_DB_UPGRADE_WAIT_SECONDS", "600"))


def say(message: str) -> None:
    print(f"db_upgrade: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def postgresql_lock(url: str):
    key = zlib.crc32(LOCK_NAME.encode()) & 0x7FFFFFFF
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"SET lock_timeout = '{WAIT_SECONDS}s'"))
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    engine.dispose()


@contextlib.contextmanager
def mysql_lock(url: str):
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        query = sa.text("SELECT GET_LOCK(:n, :t)")
        if conn.execute(query, {"n": LOCK_NAME, "t": WAIT_SECONDS}).scalar() != 1:
            raise TimeoutError(f"another server held {LOCK_NAME} for {WAIT_SECONDS} s")
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": LOCK_NAME})
    engine.dispose()


@contextlib.contextmanager
def file_lock(url: str):
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.upgrade-lock", "a") as handle:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    held = f"another server held {handle.name} for {WAIT_SECONDS} s"
                    raise TimeoutError(held) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def head_revision() -> str | None:
    """The installed MLflow's latest schema revision: the one no migration names as its parent."""
    spec = importlib.util.find_spec("mlflow")
    if spec is None or not spec.submodule_search_locations:
        return None
    versions = os.path.join(
        spec.submodule_search_locations[0], "store", "db_migrations", "versions"
    )
    revisions, parents = set(), set()
    for name in os.listdir(versions):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(versions, name)) as handle:
            text = handle.read()
        revisions.update(re.findall(r"^revision\s*=\s*.([0-9a-f]+).", text, re.M))
        for line in re.findall(r"^down_revision\s*=(.*)$", text, re.M):
            parents.update(re.findall(r"[0-9a-f]{6,}", line))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def current_revision(url: str) -> str | None:
    """The database's alembic revision; None when it has none yet (or cannot be read now)."""
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.SQLAlchemyError:
        return None  # the upgrade below reports it, with MLflow's retries first
    finally:
        engine.dispose()


def lock_for(url: str):
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    locks = {"postgresql": postgresql_lock, "mysql": mysql_lock, "sqlite": file_lock}
    return locks.get(scheme, lambda _url: contextlib.nullcontext())(url)


def main() -> int:
    url = os.environ.get("MLFLOW_BACKEND_STORE_URI", "")
    if not url.startswith(SQL_SCHEMES):
        say("the backend store is not a database: nothing to upgrade")
        return 0
    head = head_revision()
    if head is not None and current_revision(url) == head:
        say(f"schema already at {head}")
        return 0
    from mlflow.db import upgrade
    from mlflow.store.db.utils import _get_latest_schema_revision

    started = time.monotonic()
    try:
        with lock_for(url):
            upgrade.callback(url)  # `mlflow db upgrade URL`, in this process
    except Exception as exc:  # noqa: BLE001 - one line, then the script stops the start
        say(f"failed: {' '.join(str(exc).split())[:400]}")
        return 1
    say(
        f"schema at {_get_latest_schema_revision()} ({time.monotonic() - started:.1f} s, under the lock)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
