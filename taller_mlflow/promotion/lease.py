"""One promotion of a model at a time: a lease held in the MLflow registry itself.

An alias always names one version, but a promotion reads the alias, compares, moves it and tags
the new version with the one it replaced. Two of those interleaving would both record the same
predecessor, and a rollback would then skip a version. So the read-compare-move-tag sequence runs
under this lease.

The lease is the registered model `<name>.promotion-lock`. Creating a registered model is atomic
(its name is the backend table's primary key: the second creator gets RESOURCE_ALREADY_EXISTS),
so exactly one promoter holds it; releasing deletes it. Registered-model tags, by contrast, are
plain upserts and could not serve as a compare-and-set. The lock carries its owner and expiry, so
a promoter that died holding it blocks others for at most `ttl` seconds. The one gap: two waiters
that both see the same expired lease may both take it over; that needs a promoter to have died
and two others to be waiting at that very moment.
"""

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable

from mlflow.exceptions import MlflowException
from tenacity import RetryError, Retrying, retry_if_result, wait_random

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".promotion-lock"
TTL_SECONDS = 120.0  # far longer than a critical section: one model load, one alias move
WAIT_SECONDS = 180.0
OWNER, EXPIRES = "owner", "expires_at"


class PromotionBusy(RuntimeError):
    """Another promotion of the same model held the lease for longer than we would wait."""


def lock_name(name: str) -> str:
    return f"{name}{LOCK_SUFFIX}"


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _code(exc: MlflowException) -> str:
    return str(exc.error_code)


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
        expires = float(holder.get(EXPIRES) or 0)
        if expires < self.clock():
            log.warning("taking over the expired promotion lease of %s", holder.get(OWNER))
            self._delete_if_owned_by(holder.get(OWNER))
        elif not self.waited and self.on_wait:
            self.on_wait(f"waiting for the promotion lease held by {holder.get(OWNER)}")
        self.waited = True
        return False

    def acquire(self) -> "Lease":
        deadline = self.clock() + self.wait
        retrying = Retrying(
            retry=retry_if_result(lambda got: not got),
            wait=wait_random(0.1, 0.6),
            stop=lambda _: self.clock() >= deadline,  # on our clock, so tests can fake it
            sleep=self.sleep,
        )
        try:
            retrying(self.try_acquire)
        except RetryError:
            holder = self._holder() or {}
            raise PromotionBusy(
                f"another promotion of {self.name} holds the lease {self.lock} "
                f"(owner {holder.get(OWNER, '?')}); waited {self.wait:.0f} s"
            ) from None
        return self

    def held(self) -> bool:
        return (self._holder() or {}).get(OWNER) == self.owner

    def _delete_if_owned_by(self, owner: str | None) -> None:
        holder = self._holder()
        if holder is None or holder.get(OWNER) != owner:
            return
        try:
            self.client.delete_registered_model(self.lock)
        except MlflowException as exc:
            if _code(exc) != "RESOURCE_DOES_NOT_EXIST":
                raise

    def release(self) -> None:
        self._delete_if_owned_by(self.owner)

    def __enter__(self) -> "Lease":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        try:
            self.release()
        except MlflowException:  # it expires by itself; do not hide the block's own error
            log.warning("could not release the promotion lease %s", self.lock, exc_info=True)
