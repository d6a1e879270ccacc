"""One request's rows from the prediction log, each with its label if one arrived: the log's half
of GET /predictions/{request_id} (app/truth.py adds, from the registry, what put each version
live). Production rows only, numbered as /feedback addresses them. No pandas here: the API
imports this module (tests/integration/test_lean_worker.py)."""

from datetime import UTC

import sqlalchemy as sa

from taller_mlflow.monitoring.feedback_schema import create_feedback_schema, feedback
from taller_mlflow.monitoring.schema import FEATURE_COLUMNS, prediction_log

SHADOW = "shadow"


def numbered_rows(request_ids=None):
    """Production rows with their index in their request; of `request_ids` (a select) if given."""
    p = prediction_log
    row = sa.func.row_number().over(partition_by=p.c.request_id, order_by=p.c.id) - 1
    query = sa.select(p, row.label("row")).where(p.c.endpoint != SHADOW)
    if request_ids is not None:
        query = query.where(p.c.request_id.in_(request_ids))
    return query.subquery("numbered")


def _iso(when) -> str | None:
    if when is None:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)  # SQLite gives naive UTC
    return when.astimezone(UTC).isoformat()


def request_rows(engine: sa.Engine, request_id: str) -> list[dict]:
    """The request's rows in order: inputs, answer, version and alias, label; [] when unknown."""
    n = numbered_rows([request_id])
    f = feedback
    query = (
        sa.select(n, f.c.species, f.c.received_at)
        .join_from(
            n, f, sa.and_(f.c.request_id == n.c.request_id, f.c.row == n.c.row), isouter=True
        )
        .order_by(n.c.row)
    )
    with engine.begin() as conn:
        if not sa.inspect(conn).has_table(prediction_log.name):
            return []
        create_feedback_schema(conn)
        found = conn.execute(query).mappings().all()
    return [
        {
            "row": r["row"],
            "answered_at": _iso(r["ts"]),
            "endpoint": r["endpoint"],
            "inputs": {c: r[c] for c in FEATURE_COLUMNS},
            "prediction": r["prediction"],
            "probabilities": r["probabilities"],
            "model": r["model_name"],
            "version": r["model_version"],
            "alias": r["model_alias"],
            "label": None
            if r["species"] is None
            else {"species": r["species"], "received_at": _iso(r["received_at"])},
        }
        for r in found
    ]
