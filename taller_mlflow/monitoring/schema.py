"""The prediction log's table: one row per predicted penguin, from every protocol the API speaks.

Shared by the API's writer (taller_mlflow.monitoring.log) and the drift job
(taller_mlflow.monitoring.drift). `create_schema(engine)` is idempotent: it creates what is
missing and leaves existing rows alone.

Shadow scoring (a `challenger` alias scored off the response path) writes its own rows with
endpoint "shadow", the challenger's version, the production request's request_id, and `agrees`
set; production rows leave `agrees` NULL.
"""

import sqlalchemy as sa

from taller_mlflow.penguins import FEATURES

metadata = sa.MetaData()

# BIGINT on PostgreSQL/MySQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

prediction_log = sa.Table(
    "prediction_log",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("request_id", sa.String(64), nullable=False, index=True),
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
    sa.Index("ix_prediction_log_model_ts", "model_name", "model_version", "ts"),
)

FEATURE_COLUMNS = tuple(FEATURES)
assert set(FEATURE_COLUMNS) <= set(prediction_log.c.keys()), FEATURE_COLUMNS


def create_schema(engine: sa.Engine) -> None:
    metadata.create_all(engine, checkfirst=True)
