"""The prediction log's table: one row per predicted penguin, from every protocol the API speaks.

Shared by the API's writer (taller_mlflow.monitoring.log) and the drift job
(taller_mlflow.monitoring.drift). The table below is what the code reads and writes; the database
gets it from the Alembic migrations (taller_mlflow/monitoring/migrations, run by
`create_schema(engine)`, which leaves existing rows alone; on SQLite the revisions keep only the ts
index, see PER_ROW_INDEXES). A change here is a new revision there.

Shadow scoring (a `challenger` alias scored off the response path) writes its own rows with
endpoint "shadow", the challenger's version, the production request's request_id, and `agrees`
set; production rows leave `agrees` NULL.
"""

import contextlib

import sqlalchemy as sa

from taller_mlflow.penguins import FEATURES

metadata = sa.MetaData()

# BIGINT on PostgreSQL/MySQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

prediction_log = sa.Table(
    "prediction_log",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("endpoint", sa.String(128), nullable=False),
    sa.Column("model_name", sa.String(255), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("model_alias", sa.String(64), nullable=True),
    sa.Column("island", sa.String(16), nullable=False),
    sa.Column("culmen_length_mm", sa.Float, nullable=False),
    sa.Column("culmen_depth_mm", sa.Float, nullable=False),
    sa.Column("flipper_length_mm", sa.Float, nullable=False),
    sa.Column("body_mass_g", sa.Float, nullable=False),
    sa.Column("sex", sa.String(8), nullable=False),
    sa.Column("prediction", sa.String(32), nullable=False),
    sa.Column("probabilities", sa.JSON, nullable=False),  # {"Adelie": 0.97, ...}
    sa.Column("latency_ms", sa.Float, nullable=False),  # the whole request's, on each of its rows
    sa.Column("agrees", sa.Boolean, nullable=True),  # shadow rows: same class as production?
)


def _server_side(_ddl, _target, _bind, **kw) -> bool:
    return kw["dialect"].name != "sqlite"


# The indexes, by the readers that need them. Every index is paid for on every logged row; on
# SQLite (`make run`) the database engine runs inside the API worker, so that price is the API's
# CPU: on the bench's machine the writer spent ~4 µs a row with the ts index alone and ~5.5 µs
# with all three (the two others: ~1.3 µs a row, a tenth of what a 100-row /predict costs the
# API per row). So SQLite keeps the one index its regular readers need, and a database server
# (the stack's PostgreSQL) keeps all three, at its own expense.
# - ts: the drift job counts and streams a time window (job.window_counts, job.summarise), retention deletes
#   by ts hourly. Everywhere.
# - (model_name, model_version, ts): one version's rows, e.g. the promotion gate's shadow
#   agreement (endpoint "shadow" of one version; promotion/agreement.py), run once per promotion.
#   On SQLite that query scans the table instead: fine for `make run`'s log, which retention
#   bounds to 30 days.
# - request_id: looking up one request's rows (an audit; feedback joined by X-Request-ID). On
#   SQLite such a lookup scans the table; a feature that needs it there often should add the
#   index back and count it in `make bench`'s log-cost cells.
PER_ROW_INDEXES = (
    sa.Index("ix_prediction_log_ts", prediction_log.c.ts),
    sa.Index(
        "ix_prediction_log_model_ts",
        prediction_log.c.model_name,
        prediction_log.c.model_version,
        prediction_log.c.ts,
    ).ddl_if(callable_=_server_side),
    sa.Index("ix_prediction_log_request_id", prediction_log.c.request_id).ddl_if(
        callable_=_server_side
    ),
)
SQLITE_DROPPED_INDEXES = ("ix_prediction_log_model_ts", "ix_prediction_log_request_id")

FEATURE_COLUMNS = tuple(FEATURES)
assert set(FEATURE_COLUMNS) <= set(prediction_log.c.keys()), FEATURE_COLUMNS


def create_schema(conn: sa.Engine | sa.Connection) -> None:
    """The table at the latest revision of its migrations (taller_mlflow.monitoring.migrate):
    created, adopted or upgraded, under a lock."""
    from taller_mlflow.monitoring.migrate import upgrade

    with conn.begin() if isinstance(conn, sa.Engine) else contextlib.nullcontext(conn) as c:
        upgrade(c)
