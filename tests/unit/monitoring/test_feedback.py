"""Feedback against a real SQLite prediction log: each label's own status, the good ones stored."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.middleware import new_request_id
from taller_mlflow.monitoring.feedback import (
    FeedbackError,
    FeedbackStore,
    answered_at,
    parse_items,
)
from taller_mlflow.monitoring.feedback_schema import feedback
from tests.unit.monitoring.logged import T0, log_engine, log_request


@pytest.fixture
def engine(tmp_path):
    engine = log_engine(tmp_path)
    log_request(engine, "one", ["Adelie"])
    log_request(engine, "batch", ["Adelie", "Gentoo", "Chinstrap"])
    log_request(engine, "batch", ["Gentoo"], endpoint="shadow", alias=None, version="2")
    yield engine
    engine.dispose()


def store_of(engine, now=T0 + timedelta(hours=1)):
    return FeedbackStore(engine, retention_days=30, now=lambda: now)


def statuses(store, body, max_items=10):
    items, _ = parse_items(body, max_items)
    return [(i.status, i.detail) for i in store.record(items)]


def stored(engine):
    with engine.connect() as conn:
        rows = conn.execute(sa.select(feedback.c.request_id, feedback.c.row, feedback.c.species))
        return sorted(tuple(r) for r in rows)


def test_feedback_stores_a_single_label_as_row_0(engine):
    assert statuses(store_of(engine), {"request_id": "one", "species": "Gentoo"}) == [(201, "")]
    assert stored(engine) == [("one", 0, "Gentoo")]


def test_feedback_addresses_a_batch_row_by_index_and_ignores_shadow_rows(engine):
    store = store_of(engine)
    body = [{"request_id": "batch", "row": r, "species": "Adelie"} for r in range(4)]
    result = statuses(store, body)
    assert [s for s, _ in result] == [201, 201, 201, 404]
    assert "has 3 rows (0 to 2)" in result[3][1] and result[3][1].startswith("item 3:")
    assert stored(engine) == [("batch", r, "Adelie") for r in range(3)]


def test_feedback_rejects_unknown_species_with_422(engine):
    [(status, detail)] = statuses(store_of(engine), {"request_id": "one", "species": "Emperor"})
    assert status == 422 and "'Emperor'" in detail and "Adelie, Chinstrap, Gentoo" in detail
    assert stored(engine) == []


def test_feedback_rejects_unknown_request_id_with_404(engine):
    [(status, detail)] = statuses(store_of(engine), {"request_id": "nope", "species": "Adelie"})
    assert (status, detail) == (404, "item 0: no request nope in the prediction log")


def test_feedback_rejects_a_second_label_for_the_same_row_with_409(engine):
    store = store_of(engine)
    assert statuses(store, {"request_id": "one", "species": "Adelie"})[0][0] == 201
    again = [
        {"request_id": "one", "species": "Gentoo"},
        {"request_id": "batch", "species": "Adelie"},
    ]
    result = statuses(store, again)
    assert result[0] == (409, "item 0: request one row 0 already has a label")
    assert result[1][0] == 201
    assert stored(engine) == [("batch", 0, "Adelie"), ("one", 0, "Adelie")]  # the first kept


def test_feedback_rejects_a_duplicate_within_one_batch_with_409(engine):
    body = [{"request_id": "batch", "row": 1, "species": s} for s in ("Gentoo", "Adelie")]
    assert [s for s, _ in statuses(store_of(engine), body)] == [201, 409]
    assert stored(engine) == [("batch", 1, "Gentoo")]


def test_feedback_for_a_request_older_than_retention_is_410_not_404(engine):
    old = new_request_id()  # made now: 40 days before the store's clock
    store = store_of(engine, now=answered_at(old) + timedelta(days=40))
    [(status, detail)] = statuses(store, {"request_id": old, "species": "Adelie"})
    assert status == 410 and "30-day retention" in detail
    recent = store_of(engine, now=answered_at(old) + timedelta(days=1))
    assert statuses(recent, {"request_id": old, "species": "Adelie"})[0][0] == 404


@pytest.mark.parametrize(
    ("item", "named"),
    [
        ("Adelie", "must be an object"),
        ({"species": "Adelie"}, "request_id"),
        ({"request_id": "has space", "species": "Adelie"}, "request_id"),
        ({"request_id": "one", "row": -1, "species": "Adelie"}, "row: -1"),
        ({"request_id": "one", "row": True, "species": "Adelie"}, "row: True"),
        ({"request_id": "one"}, "species: None"),
    ],
)
def test_feedback_rejects_a_malformed_item_with_422_naming_the_field(engine, item, named):
    [(status, detail)] = statuses(store_of(engine), [item])
    assert status == 422 and named in detail


def test_feedback_refuses_a_body_that_is_no_label_or_too_many():
    for body, status in (("x", 422), ([], 422), ([{}] * 11, 413)):
        with pytest.raises(FeedbackError) as caught:
            parse_items(body, 10)
        assert caught.value.status == status


def test_answered_at_reads_only_uuid7_ids():
    rid = new_request_id()
    assert abs(answered_at(rid).timestamp() - T0.now().timestamp()) < 60
    assert answered_at("trace-42") is None and answered_at("0" * 32) is None
