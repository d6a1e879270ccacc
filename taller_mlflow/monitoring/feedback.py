"""Labels that arrive later: check each posted label against the prediction log, store the good.

POST /feedback (app/feedback.py) is a thin codec over `FeedbackStore.record`. A label names a
logged prediction row by the X-Request-ID its answer carried and, for a batch, the row's index
(`row`, 0-based, default 0). Each item gets its own status, so a batch stores its good items and
reports the bad ones, never dropping any silently:
  201 stored; 404 no such request (or row) in the log; 409 that row already has a label;
  410 the request is older than the log's retention, its rows were deleted; 422 a malformed item
  or a species that does not exist.
The log can tell "aged out" from "unknown" because the API's own request ids are UUIDv7s, whose
first 48 bits are the answer's time in milliseconds (app/middleware.new_request_id); a client's
own id carries no time, so it is only ever "unknown".
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from taller_mlflow.monitoring.feedback_schema import create_feedback_schema, feedback
from taller_mlflow.monitoring.log import make_engine
from taller_mlflow.monitoring.schema import prediction_log
from taller_mlflow.penguins import SPECIES

SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # what the API keeps of an X-Request-ID
SHADOW = "shadow"  # the challenger's rows share the request id; labels address production's
CHUNK = 500  # request ids per IN (...) query


class FeedbackError(ValueError):
    """The whole body is unusable (not a label nor a list of them, too many): status, detail."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass
class Item:
    """One posted label and what became of it."""

    index: int
    request_id: str | None
    row: int
    species: str | None
    status: int = 0  # 0 until decided
    detail: str = ""

    def reject(self, status: int, detail: str) -> None:
        self.status, self.detail = status, f"item {self.index}: {detail}"

    def as_dict(self) -> dict:
        return {
            "index": self.index,
            "request_id": self.request_id,
            "row": self.row,
            "status": self.status,
            "detail": self.detail or "stored",
        }


def parse_items(data, max_items: int) -> tuple[list[Item], bool]:
    """The items of a decoded body and whether it was a list. Malformed items are rejected
    (422) here; the body itself is refused only when it is neither an object nor a list."""
    is_batch = isinstance(data, list)
    if not is_batch and not isinstance(data, dict):
        raise FeedbackError(422, "body: a label object or a list of them")
    raw = data if is_batch else [data]
    if not raw:
        raise FeedbackError(422, "body: a list needs at least one label")
    if len(raw) > max_items:
        raise FeedbackError(413, f"batch of {len(raw)} labels exceeds {max_items}")
    return [_item(i, value) for i, value in enumerate(raw)], is_batch


def _item(index: int, value) -> Item:
    if not isinstance(value, dict):
        item = Item(index, None, 0, None)
        item.reject(422, "must be an object with request_id and species")
        return item
    rid, row, species = value.get("request_id"), value.get("row", 0), value.get("species")
    item = Item(index, rid if isinstance(rid, str) else None, 0, None)
    if not isinstance(rid, str) or not SANE_ID.fullmatch(rid):
        item.reject(422, "request_id: the X-Request-ID of an answer (1-64 of A-Z a-z 0-9 . _ -)")
    elif isinstance(row, bool) or not isinstance(row, int) or row < 0:
        item.reject(422, f"row: {row!r} is not a row index (0, 1, ...)")
    elif species not in SPECIES:
        item.row = row
        item.reject(422, f"species: {species!r} is not one of {', '.join(SPECIES)}")
    else:
        item.row, item.species = row, species
    return item


def answered_at(request_id: str) -> datetime | None:
    """The time in an API-made request id (UUIDv7, 32 hex digits); None for any other id."""
    if len(request_id) != 32 or request_id[12] != "7":
        return None
    try:
        millis = int(request_id[:12], 16)
    except ValueError:
        return None
    return datetime.fromtimestamp(millis / 1000, UTC)


def production_rows(conn: sa.Connection, request_ids) -> dict[str, int]:
    """How many production (not shadow) rows the log holds per request id."""
    t, counts = prediction_log, {}
    ids = sorted(set(request_ids))
    for start in range(0, len(ids), CHUNK):
        query = (
            sa.select(t.c.request_id, sa.func.count())
            .where(t.c.request_id.in_(ids[start : start + CHUNK]), t.c.endpoint != SHADOW)
            .group_by(t.c.request_id)
        )
        counts.update({rid: n for rid, n in conn.execute(query)})
    return counts


def labelled(conn: sa.Connection, request_ids) -> set[tuple[str, int]]:
    ids, found = sorted(set(request_ids)), set()
    for start in range(0, len(ids), CHUNK):
        query = sa.select(feedback.c.request_id, feedback.c.row).where(
            feedback.c.request_id.in_(ids[start : start + CHUNK])
        )
        found.update((rid, row) for rid, row in conn.execute(query))
    return found


def unknown_request(request_id: str, retention_days: float, now: datetime) -> tuple[int, str]:
    """A request id the log does not hold: 410 when its own time is beyond retention, else 404."""
    when = answered_at(request_id)
    if when is not None and retention_days > 0 and when < now - timedelta(days=retention_days):
        return 410, (
            f"request {request_id} was answered {when:%Y-%m-%d %H:%M} UTC, beyond the log's "
            f"{retention_days:g}-day retention: its rows were deleted"
        )
    return 404, f"no request {request_id} in the prediction log"


class FeedbackStore:
    def __init__(self, url_or_engine, retention_days: float = 30, now=lambda: datetime.now(UTC)):
        self.engine = (
            url_or_engine if isinstance(url_or_engine, sa.Engine) else make_engine(url_or_engine)
        )
        self.retention_days, self.now = retention_days, now
        self._schema_ready = False

    def _ensure_schema(self, conn: sa.Connection) -> None:
        if not self._schema_ready:
            create_feedback_schema(conn)
            self._schema_ready = True

    def record(self, items: list[Item]) -> list[Item]:
        """Decide every undecided item, store the good ones in one transaction."""
        todo = [i for i in items if not i.status]
        with self.engine.begin() as conn:
            self._ensure_schema(conn)
            has_log = sa.inspect(conn).has_table(prediction_log.name)
            ids = [i.request_id for i in todo]
            rows = production_rows(conn, ids) if has_log and ids else {}
            taken = labelled(conn, ids) if ids else set()
        good = []
        for item in todo:
            key = (item.request_id, item.row)
            if item.request_id not in rows:
                self._unknown(item)
            elif item.row >= rows[item.request_id]:
                n = rows[item.request_id]
                item.reject(404, f"request {item.request_id} has {n} rows (0 to {n - 1})")
            elif key in taken:
                item.reject(409, f"request {item.request_id} row {item.row} already has a label")
            else:
                taken.add(key)
                good.append(item)
        self._insert(good)
        return items

    def _unknown(self, item: Item) -> None:
        item.reject(*unknown_request(item.request_id, self.retention_days, self.now()))

    def _insert(self, good: list[Item]) -> None:
        if not good:
            return
        received = self.now()
        values = [
            {
                "request_id": i.request_id,
                "row": i.row,
                "species": i.species,
                "received_at": received,
            }
            for i in good
        ]
        try:
            with self.engine.begin() as conn:
                conn.execute(feedback.insert(), values)
        except sa.exc.IntegrityError:  # another worker labelled one of them meanwhile: one by one
            for item, value in zip(good, values, strict=True):
                try:
                    with self.engine.begin() as conn:
                        conn.execute(feedback.insert(), value)
                except sa.exc.IntegrityError:
                    item.reject(
                        409, f"request {item.request_id} row {item.row} already has a label"
                    )
                    continue
                item.status = 201
            return
        for item in good:
            item.status = 201

    def close(self) -> None:
        self.engine.dispose()
