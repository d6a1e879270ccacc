"""Exit 0 once MLflow's database schema is at the revision this MLflow expects; exit 1 at the
deadline. The MLflow server pods run it as an init container.

MLflow's migrations must not run twice at once: the Job mlflow-db-upgrade runs them, alone.
A server that started before it finished would create the tables itself on an empty database
(racing the Job and its sibling replica) or stop on an out-of-date schema, so each server waits
here for the Job instead.

    MLFLOW_BACKEND_STORE_URI   the database (required)
    SCHEMA_WAIT_SECONDS        how long to wait (600); the pod restarts the wait after that
    SCHEMA_POLL_SECONDS        between two looks (5)
"""

import os
import sys
import time

import sqlalchemy
from mlflow.store.db.utils import _get_latest_schema_revision, _get_schema_version


def current_revision(uri: str) -> str | None:
    """The schema revision the database is at; None while it has none (or cannot be read)."""
    engine = sqlalchemy.create_engine(uri)
    try:
        return _get_schema_version(engine)
    except sqlalchemy.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def main() -> int:
    uri = os.environ["MLFLOW_BACKEND_STORE_URI"]
    deadline = time.monotonic() + float(os.environ.get("SCHEMA_WAIT_SECONDS", "600"))
    poll = float(os.environ.get("SCHEMA_POLL_SECONDS", "5"))
    wanted = _get_latest_schema_revision()
    while True:
        found = current_revision(uri)
        if found == wanted:
            print(f"wait-for-schema: database at {wanted}", flush=True)
            return 0
        if time.monotonic() >= deadline:
            print(f"wait-for-schema: database at {found}, not {wanted}", file=sys.stderr)
            return 1
        print(f"wait-for-schema: database at {found}, waiting for {wanted}", flush=True)
        time.sleep(poll)


if __name__ == "__main__":
    sys.exit(main())
