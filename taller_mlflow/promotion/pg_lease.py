"""The promotion lease as a PostgreSQL advisory lock, when the promoter can reach a PostgreSQL
server (TALLER_PROMOTION_LOCK_URL; the stack's MLflow database, or any other all promoters
share).

`pg_try_advisory_lock` on one dedicated connection: the lock belongs to that session, so
PostgreSQL itself makes acquire, fence and release atomic. Nobody can take over a lock whose
holder is alive, however long it stalls (waiters give up with PromotionBusy instead), a holder
whose process dies loses it with its connection, and `pg_advisory_unlock` releases only a lock
this session holds: the registry lease's read-then-delete windows do not exist here.

Why it is not the default: the promoter reaches MLflow over HTTP only, and this needs it to hold
database credentials too (any role with CONNECT suffices; it reads and writes no table).
"""

import logging
import time
import zlib
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from taller_mlflow.promotion.lease import WAIT_SECONDS, Lease, LeaseLost, PromotionBusy, wait_for
from taller_mlflow.promotion.outcome import PromotionError

log = logging.getLogger(__name__)

NAMESPACE = 2_110_021  # the first key of every promotion lock, so other advisory users never clash
HELD = sa.text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND pid = pg_backend_pid() AND classid = :a AND objid = :b AND objsubid = 2"
)
HOLDER = sa.text(
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND classid = :a AND objid = :b AND objsubid = 2"
)
# A holder that vanishes without closing its socket is noticed by the server within a minute.
KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def lock_key(name: str) -> dict:
    return {"a": NAMESPACE, "b": zlib.crc32(name.encode()) & 0x7FFFFFFF}


class AdvisoryLease:
    def __init__(
        self,
        url: str,
        client,
        name: str,
        *,
        wait: float = WAIT_SECONDS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[str], None] | None = None,
    ):
        self.url, self.name, self.key = url, name, lock_key(name)
        self.wait, self.clock, self.sleep, self.on_wait = wait, clock, sleep, on_wait
        self.engine = sa.create_engine(url, poolclass=NullPool, connect_args=KEEPALIVE)
        self.conn = None
        self.waited = False

    def _scalar(self, query, conn=None):
        return (conn or self.conn).execute(query, self.key).scalar()

    def try_acquire(self) -> bool:
        if self._scalar(sa.text("SELECT pg_try_advisory_lock(:a, :b)")):
            return True
        if not self.waited and self.on_wait:
            holder = self._scalar(HOLDER)
            self.on_wait(f"waiting for the promotion lease held by PostgreSQL backend {holder}")
        self.waited = True
        return False

    def acquire(self) -> "AdvisoryLease":
        # AUTOCOMMIT: the connection never sits idle in a transaction a server timeout would end.
        self.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        if not wait_for(self.try_acquire, self.wait, self.clock, self.sleep):
            holder = self._scalar(HOLDER)
            self.close()
            raise PromotionBusy(
                f"another promotion of {self.name} holds its PostgreSQL advisory lock "
                f"(backend {holder}); waited {self.wait:.0f} s"
            )
        return self

    def held(self) -> bool:
        if self.conn is None:
            return False
        try:
            return bool(self._scalar(HELD))
        except sa.exc.DBAPIError:  # the session, and with it the lock, is gone
            return False

    def confirm(self) -> None:
        if not self.held():
            raise LeaseLost(
                f"lost the promotion lease of {self.name} (its PostgreSQL session ended): "
                "nothing moved; try again"
            )

    def release(self) -> None:
        if self.conn is None:
            return
        try:
            self._scalar(sa.text("SELECT pg_advisory_unlock(:a, :b)"))
        except sa.exc.DBAPIError:
            log.warning("the promotion lock's session ended before its release", exc_info=True)
        finally:
            self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.engine.dispose()

    def __enter__(self) -> "AdvisoryLease":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def lease_factory(lock_url: str):
    """The lease a gate takes: the advisory lock when `lock_url` names a PostgreSQL database,
    otherwise the registry lease. Same call shape: factory(client, name, on_wait=...)."""
    if not lock_url:
        return Lease
    if not lock_url.startswith("postgresql"):
        raise PromotionError(
            f"TALLER_PROMOTION_LOCK_URL must be a postgresql:// URL, not {lock_url.split(':')[0]}:"
        )

    def advisory(client, name, **kwargs):
        return AdvisoryLease(lock_url, client, name, **kwargs)

    return advisory
