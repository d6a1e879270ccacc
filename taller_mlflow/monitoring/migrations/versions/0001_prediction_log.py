"""The prediction log as it was when migrations began: the table and its indexes.

A database from before (made by `create_all`) already has them: this revision then creates
nothing and only records that the database is at it. Frozen: later changes are new revisions,
never edits here.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# On SQLite the engine runs inside the API worker and each index costs it CPU on every row:
# there only ts is kept (taller_mlflow/monitoring/schema.py says why).
SERVER_SIDE = {
    "ix_prediction_log_model_ts": ["model_name", "model_version", "ts"],
    "ix_prediction_log_request_id": ["request_id"],
}


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if not inspector.has_table("prediction_log"):
        op.create_table(
            "prediction_log",
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
            sa.Column("probabilities", sa.JSON, nullable=False),
            sa.Column("latency_ms", sa.Float, nullable=False),
            sa.Column("agrees", sa.Boolean, nullable=True),
        )
    existing = {ix["name"] for ix in sa.inspect(bind).get_indexes("prediction_log")}
    wanted = {"ix_prediction_log_ts": ["ts"]}
    if bind.dialect.name != "sqlite":
        wanted |= SERVER_SIDE
    for name, columns in wanted.items():
        if name not in existing:
            op.create_index(name, "prediction_log", columns)
    if bind.dialect.name == "sqlite":  # a log file from before: its writer stops paying for them
        for name in SERVER_SIDE:
            op.execute(f"DROP INDEX IF EXISTS {name}")
