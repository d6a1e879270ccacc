"""The prediction log's schema, versioned with Alembic (taller_mlflow/monitoring/migrations).

`upgrade(conn)` brings a database to the latest revision: it creates the table on an empty one,
adopts a log made before migrations existed (by `create_all`), and applies what a newer release
adds to one with rows in it. The API's writer runs it when it starts (and after the database was
away, which may have brought back a new, empty one), so there is no separate step to forget;
`python -m taller_mlflow.monitoring.migrate URL` runs it by hand.

Revisions only add (nullable columns, tables, indexes), so during a rolling update the release
before keeps writing to a log the new one has migrated; it leaves a revision it does not know
alone. Several API workers (and replicas) start together, so it runs under a lock: a PostgreSQL
advisory lock held until the transaction ends, MySQL's GET_LOCK, or `flock` on a file beside a
SQLite database. Its own version table, `prediction_log_alembic_version`, so the log may share a
database with other Alembic users (MLflow's `alembic_version`) without either touching the other's.

A new revision: a file in migrations/versions/ with 0001_prediction_log.py's header,
`down_revision` the latest one, and its `upgrade()`; a nullable column (or one with a server
default) keeps the writers of the release before it working during a rolling update.
tests/integration/test_prediction_log_migrations.py adds one to a log that holds rows.
"""

import contextlib
import fcntl
import functools
import logging
import sys
import time
import zlib
from pathlib import Path

import sqlalchemy as sa

log = logging.getLogger(__name__)

VERSION_TABLE = "prediction_log_alembic_version"
MIGRATIONS = Path(__file__).with_name("migrations")
LOCK_NAME = "taller_prediction_log_schema"
LOCK_WAIT_SECONDS = 120


class SchemaError(RuntimeError):
    """The log's schema cannot be brought up to date (the lock not granted, a failed revision)."""


@contextlib.contextmanager
def _file_lock(path: str):
    with open(path, "a") as handle:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SchemaError(f"{path} held for {LOCK_WAIT_SECONDS} s") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def schema_lock(conn: sa.Connection):
    """Held while this connection migrates; released at the transaction's end (PostgreSQL) or
    when the block exits."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        key = zlib.crc32(LOCK_NAME.encode()) & 0x7FFFFFFF
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        yield
    elif dialect in ("mysql", "mariadb"):
        query = sa.text("SELECT GET_LOCK(:n, :t)")
        if conn.execute(query, {"n": LOCK_NAME, "t": LOCK_WAIT_SECONDS}).scalar() != 1:
            raise SchemaError(f"another process held {LOCK_NAME} for {LOCK_WAIT_SECONDS} s")
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": LOCK_NAME})
    elif dialect == "sqlite" and conn.engine.url.database not in (None, "", ":memory:"):
        with _file_lock(f"{conn.engine.url.database}.schema-lock"):
            yield
    else:
        yield


def _config(conn: sa.Connection, script_location: Path):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["connection"] = conn
    return config


def _script(script_location: Path):
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config(None, script_location))


@functools.lru_cache(maxsize=8)
def head(script_location: Path = MIGRATIONS) -> str:
    """The latest revision. Cached: the revisions ship with the code and do not change while it
    runs, and every audit request and writer start asks (reading the scripts takes milliseconds)."""
    return _script(script_location).get_current_head()


def current(conn: sa.Connection) -> str | None:
    """The database's revision; None before the first upgrade."""
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _has_log(conn: sa.Connection) -> bool:
    return sa.inspect(conn).has_table("prediction_log")


def upgrade(conn: sa.Connection, script_location: Path = MIGRATIONS) -> str:
    """Bring the log's schema on `conn` (inside its transaction) to the latest revision, under
    the lock. Returns the revision it is at. One newer than this code's is left as it is."""
    from alembic import command
    from alembic.util import CommandError

    latest, now = head(script_location), current(conn)
    if now == latest and _has_log(conn):  # the common case: no lock, no DDL, no script read
        return latest
    script = _script(script_location)
    if now is not None and now not in {r.revision for r in script.walk_revisions()}:
        # A newer release migrated it (a rolling update): revisions only add nullable columns,
        # tables and indexes, so this release's inserts still fit. Write to it as it is.
        log.warning("prediction log schema at %s, newer than this release's %s", now, latest)
        return now
    with schema_lock(conn):
        if not _has_log(conn) and current(conn) is not None:
            # The table is gone but its version rows are not (dropped by hand): start over.
            conn.execute(sa.text(f"DELETE FROM {VERSION_TABLE}"))
        try:
            command.upgrade(_config(conn, script_location), "head")
        except CommandError as exc:
            raise SchemaError(f"the prediction log's schema cannot reach {latest}: {exc}") from exc
    return latest


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(
            "usage: python -m taller_mlflow.monitoring.migrate PREDICTION_LOG_URL", file=sys.stderr
        )
        return 2
    engine = sa.create_engine(args[0])
    try:
        with engine.begin() as conn:
            revision = upgrade(conn)
    except (sa.exc.SQLAlchemyError, SchemaError) as exc:
        print(f"error: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        return 1
    print(f"prediction log schema at {revision}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
