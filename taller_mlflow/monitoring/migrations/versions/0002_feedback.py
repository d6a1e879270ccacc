"""The feedback table: the true species of a logged prediction row, posted later
(POST /feedback; taller_mlflow/monitoring/feedback_schema.py describes it). A database whose
table an API of the branch before migrations made (by `create_all`) already has it: this
revision then only records that the database is at it. Frozen: later changes are new revisions.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("feedback"):
        return
    op.create_table(
        "feedback",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("row", sa.Integer, nullable=False),
        sa.Column("species", sa.String(32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("request_id", "row", name="uq_feedback_request_row"),
    )
