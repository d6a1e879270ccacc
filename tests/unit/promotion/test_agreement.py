"""The promote command's shadow agreement, read from the prediction log's shadow rows."""

from datetime import UTC, datetime

import sqlalchemy as sa

from taller_mlflow.monitoring.schema import create_schema, prediction_log
from taller_mlflow.promotion.agreement import agreement_from_log, agreement_line

PENGUIN = {
    "island": "Biscoe",
    "culmen_length_mm": 46.1,
    "culmen_depth_mm": 13.2,
    "flipper_length_mm": 211.0,
    "body_mass_g": 4500.0,
    "sex": "FEMALE",
}


def row(endpoint: str, version: str, agrees: bool | None) -> dict:
    return {
        **PENGUIN,
        "ts": datetime.now(UTC),
        "request_id": "r",
        "endpoint": endpoint,
        "model_name": "modelo_penguins",
        "model_version": version,
        "model_alias": "challenger" if endpoint == "shadow" else "production",
        "prediction": "Gentoo",
        "probabilities": {"Gentoo": 1.0},
        "latency_ms": 1.0,
        "agrees": agrees,
    }


def test_the_rate_counts_only_the_versions_shadow_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    engine = sa.create_engine(url)
    create_schema(engine)
    rows = [row("shadow", "3", True)] * 3 + [row("shadow", "3", False)]
    rows += [row("shadow", "4", False), row("/predict", "3", None), row("/predict", "2", None)]
    with engine.begin() as conn:
        conn.execute(prediction_log.insert(), rows)
    engine.dispose()
    agreement_for = agreement_from_log(url)
    assert agreement_for("modelo_penguins", "3") == 0.75
    assert agreement_for("modelo_penguins", "4") == 0.0
    assert agreement_line(agreement_for("modelo_penguins", "3")) == "shadow agreement: 75.0%"


def test_no_log_no_rows_or_no_table_give_no_rate(tmp_path):
    assert agreement_from_log(None)("modelo_penguins", "3") is None
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    assert agreement_from_log(empty)("modelo_penguins", "3") is None  # no table yet
    create_schema(sa.create_engine(empty))
    assert agreement_from_log(empty)("modelo_penguins", "3") is None  # no shadow row yet
    assert agreement_line(None) == "shadow agreement: n/a"
