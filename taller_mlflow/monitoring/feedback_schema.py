"""The feedback table: the true species of a logged prediction, posted later (POST /feedback).

Its own module and its own MetaData, beside the prediction log's (schema.py); the database gets
it from the log's migrations (migrations/versions/0002_feedback.py), like the log. One row per labelled prediction row: a request's rows are
addressed by `row`, their position among the request's production rows in the log (0 for a
one-penguin request). The unique (request_id, row) makes a second label for the same row a
conflict in the database too, when two API workers receive it at once.
"""

import sqlalchemy as sa

feedback_metadata = sa.MetaData()

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

feedback = sa.Table(
    "feedback",
    feedback_metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("row", sa.Integer, nullable=False),
    sa.Column("species", sa.String(32), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("request_id", "row", name="uq_feedback_request_row"),
)


def create_feedback_schema(conn: sa.Engine | sa.Connection) -> None:
    """The log's schema at its latest revision, this table included: nothing to do (and no lock
    taken) when it is there already."""
    from taller_mlflow.monitoring.schema import create_schema

    create_schema(conn)


def any_label(engine: sa.Engine) -> bool:
    """Whether a label was ever posted: the quality check (and the pandas it imports) can wait
    until one is."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(feedback.name):
            return False
        return conn.execute(sa.select(feedback.c.id).limit(1)).first() is not None
