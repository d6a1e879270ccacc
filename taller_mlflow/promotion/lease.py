"""One promotion of a model at a time: a lease held in the MLflow registry itself.

An alias always names one version, but a promotion reads the alias, moves it and tags the new
version with the one it replaced. Two of those interleaving would both record the same
predecessor, and a rollback would then skip a version. So the read-move-tag sequence runs under
this lease; the slow part of a promotion (loading and scoring) runs before it is taken.

The lease is the registered model `<name>.promotion-lock`. Creating a registered model is atomic
(its name is the backend table's primary key: the second creator gets RESOURCE_ALREADY_EXISTS),
so exactly one promoter holds it; releasing deletes it. Registered-model tags, by contrast, are
plain upserts and could not serve as a compare-and-set. The lock carries its owner and expiry, so
a promoter that died holding it blocks others for at most `ttl` seconds.

The TTL is sized, not renewed: the critical section is a handful of registry requests (seconds),
the TTL 120 s, and `confirm()` (the fence the move makes right before it) refuses once less than
half the TTL is left. A renewal would be one more read-then-write on tags, no safer than that.

MLflow's API has no compare-and-delete, so two windows remain, each one registry round trip wide
(between reading the lock and deleting it):
- release deletes only a lock whose owner is this lease and that has more than half its TTL
  left; a lease nearer its expiry is left to expire instead. A release stalled for longer than
  that half TTL between its read and its delete could still delete a successor's lock.
- two waiters that both see the same expired lock may both delete it; the second deletion can hit
  the lock the first has just created. It needs a promoter to have died (or stalled past the TTL)
  and two others to be waiting at that very moment.
Either way, the move is fenced (taller_mlflow.promotion.fence): the owner and the alias are read
again right before it. Where the promoter can reach a PostgreSQL server, the advisory lock
(taller_mlflow.promotion.pg_lease) has neither window.
"""

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable

from mlflow.exceptions import MlflowException
from tenacity import RetryError, Retrying, retry_if_result, wait_random

from taller_mlflow.promotion.outcome import PromotionError

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".promotion-lock"
TTL_SECONDS = 120.0  # far longer than the critical section: a few registry requests
WAIT_SECONDS = 180.0
OWNER, EXPIRES = "owner", "expires_at"


class PromotionBusy(RuntimeError):
    """Another promotion of the same model held the lease for longer than we would wait."""


class LeaseLost(PromotionError):
    """The lease is no longer ours (it expired and was taken over): the move must not happen."""


def lock_name(name: str) -> str:
    return f"{name}{LOCK_SUFFIX}"


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _code(exc: MlflowException) -> str:
    return str(exc.error_code)


def wait_for(try_acquire: Callable[[], bool], wait: float, clock, sleep) -> bool:
    """Call try_acquire, with a short random pause between tries, until it answers True (then
    True) or `wait` seconds have passed on `clock` (then False)."""
    deadline = clock() + wait
    retrying = Retrying(
        retry=retry_if_result(lambda got: not got),
        wait=wait_random(0.1, 0.6),
        stop=lambda _: clock() >= deadline,  # on our clock, so tests can fake it
        sleep=sleep,
    )
    try:
        retrying(try_acquire)
    except RetryError:
        return False
    return True


class Lease:
    def __init__(
        self,
        client,
        name: str,
        *,
        ttl: float = TTL_SECONDS,
        wait: float = WAIT_SECONDS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[str], None] | None = None,
    ):
        self.client, self.name, self.lock = client, name, lock_name(name)
        self.ttl, self.wait, self.clock, self.sleep = ttl, wait, clock, sleep
        self.margin = ttl / 2  # the least TTL left for a move to go ahead or a release to delete
        self.on_wait = on_wait
        self.owner = new_owner()
        self.waited = False

    def _holder(self) -> dict | None:
        """The lock's tags, or None when no lock exists (it was released meanwhile)."""
        try:
            return dict(self.client.get_registered_model(self.lock).tags or {})
        except MlflowException as exc:
            if _code(exc) == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def _left(self, holder: dict) -> float:
        """Seconds until `holder`'s lock expires (negative once expired)."""
        return float(holder.get(EXPIRES) or 0) - self.clock()

    def try_acquire(self) -> bool:
        tags = {OWNER: self.owner, EXPIRES: f"{self.clock() + self.ttl:.3f}"}
        description = f"held while a promotion of {self.name} runs; deleted when it ends"
        try:
            self.client.create_registered_model(self.lock, tags=tags, description=description)
            return True
        except MlflowException as exc:
            if _code(exc) == "RESOURCE_DOES_NOT_EXIST":
                # MLflow's SQL store answers a duplicate name by reading the existing model for
                # its message; when the holder released the lock in between, that read fails
                # with "not found". The lock is free: try again.
                return False
            if _code(exc) != "RESOURCE_ALREADY_EXISTS":
                raise
        holder = self._holder()
        if holder is None:
            return False
        if self._left(holder) < 0:
            log.warning("taking over the expired promotion lease of %s", holder.get(OWNER))
            self._delete_if(lambda h: h.get(OWNER) == holder.get(OWNER) and self._left(h) < 0)
        elif not self.waited and self.on_wait:
            self.on_wait(f"waiting for the promotion lease held by {holder.get(OWNER)}")
        self.waited = True
        return False

    def acquire(self) -> "Lease":
        if not wait_for(self.try_acquire, self.wait, self.clock, self.sleep):
            holder = self._holder() or {}
            raise PromotionBusy(
                f"another promotion of {self.name} holds the lease {self.lock} "
                f"(owner {holder.get(OWNER, '?')}); waited {self.wait:.0f} s"
            )
        return self

    def held(self) -> bool:
        return (self._holder() or {}).get(OWNER) == self.owner

    def confirm(self) -> None:
        """The fence: raise LeaseLost unless this lease still holds the lock with more than half
        its TTL left, so the few requests that follow finish long before anyone may take over."""
        holder = self._holder() or {}
        if holder.get(OWNER) != self.owner:
            raise LeaseLost(
                f"lost the promotion lease of {self.name} (now held by "
                f"{holder.get(OWNER, 'nobody')}): nothing moved; try again"
            )
        if self._left(holder) <= self.margin:
            raise LeaseLost(
                f"the promotion lease of {self.name} has {self._left(holder):.0f} s of its "
                f"{self.ttl:.0f} s left, too little to move safely: nothing moved; try again"
            )

    def _delete_if(self, still: Callable[[dict], bool]) -> bool:
        """Delete the lock if its tags, read right before, satisfy `still`. Not atomic: see the
        module's docstring for the window left between the read and the delete."""
        holder = self._holder()
        if holder is None or not still(holder):
            return False
        try:
            self.client.delete_registered_model(self.lock)
        except MlflowException as exc:
            if _code(exc) != "RESOURCE_DOES_NOT_EXIST":
                raise
        return True

    def release(self) -> None:
        """Delete the lock only while it is ours and far from expiry; one nearer its expiry is
        left to expire, since a taker may be about to replace it."""
        mine = self._delete_if(lambda h: h.get(OWNER) == self.owner and self._left(h) > self.margin)
        if not mine and self.held():
            log.warning("leaving the promotion lease %s to expire: too near its TTL", self.lock)

    def __enter__(self) -> "Lease":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        try:
            self.release()
        except MlflowException:  # it expires by itself; do not hide the block's own error
            log.warning("could not release the promotion lease %s", self.lock, exc_info=True)
