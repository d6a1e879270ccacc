"""The shadow challenger's agreement with production, to help decide a promotion.

The API scores a share of production requests with the `challenger` alias off the response path
(app/shadow.py) and logs those answers as prediction-log rows with endpoint "shadow" and `agrees`
set. The rate read here is over every such row of the version, from every API worker and
restart. Without a prediction log (PREDICTION_LOG_URL unset), or with no shadow row yet, there
is no rate, and the promote command prints "shadow agreement: n/a" rather than a made-up number.
"""

import logging
from collections.abc import Callable

import sqlalchemy as sa

from taller_mlflow.monitoring.schema import prediction_log as log_table

log = logging.getLogger(__name__)


def agreement_from_log(url: str | None) -> Callable[[str, str], float | None]:
    """agreement_for(name, version): the share of its shadow rows that agreed, or None."""

    def agreement_for(name: str, version: str) -> float | None:
        if not url:
            return None
        agreed = sa.func.sum(sa.case((log_table.c.agrees, 1), else_=0))
        query = sa.select(sa.func.count(), agreed).where(
            log_table.c.endpoint == "shadow",
            log_table.c.model_name == name,
            log_table.c.model_version == str(version),
        )
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                rows, agreeing = conn.execute(query).one()
        except sa.exc.SQLAlchemyError as exc:  # no log table yet, or the database is away
            log.warning("shadow agreement unavailable: %s", str(exc).splitlines()[0])
            return None
        finally:
            engine.dispose()
        return agreeing / rows if rows else None

    return agreement_for


def agreement_for(name: str, version: str) -> float | None:
    """The default: no prediction log known, so no rate."""
    return None


def agreement_line(rate: float | None) -> str:
    return "shadow agreement: n/a" if rate is None else f"shadow agreement: {rate:.1%}"
