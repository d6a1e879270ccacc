"""The promotion lease: one holder at a time, a dead holder's lease expires, nobody waits forever."""

import threading

import pytest

from taller_mlflow.promotion.lease import (
    EXPIRES,
    OWNER,
    Lease,
    LeaseLost,
    PromotionBusy,
    lock_name,
)
from tests.unit.promotion.fakes import NAME, FakeRegistry, rest_error

LOCK = lock_name(NAME)


class FakeTime:
    def __init__(self):
        self.now = 1_000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_lease_is_a_registered_model_that_exists_only_while_held():
    registry = FakeRegistry()
    with Lease(registry, NAME) as lease:
        assert lease.held()
        assert registry.models[LOCK]["tags"][OWNER] == lease.owner
    assert LOCK not in registry.models


def test_a_second_promoter_waits_for_the_first_then_gets_the_lease():
    registry, time = FakeRegistry(), FakeTime()
    first = Lease(registry, NAME, clock=time.clock).acquire()
    said = []
    released = []

    def sleep(seconds):
        time.sleep(seconds)
        if time.now > 1_002.0 and not released:
            first.release()  # the first promotion ends while the second waits
            released.append(True)

    second = Lease(registry, NAME, clock=time.clock, sleep=sleep, on_wait=said.append)
    second.acquire()
    assert second.held() and not first.held()
    assert said == [f"waiting for the promotion lease held by {first.owner}"]


def test_a_lease_held_too_long_makes_the_waiter_give_up_with_one_line():
    registry, time = FakeRegistry(), FakeTime()
    holder = Lease(registry, NAME, clock=time.clock, ttl=1_000).acquire()
    waiter = Lease(registry, NAME, clock=time.clock, sleep=time.sleep, wait=30)
    with pytest.raises(PromotionBusy, match=f"holds the lease {LOCK} .owner {holder.owner}."):
        waiter.acquire()
    assert holder.held()


def test_the_expired_lease_of_a_dead_promoter_is_taken_over():
    registry, time = FakeRegistry(), FakeTime()
    dead = Lease(registry, NAME, clock=time.clock, ttl=60).acquire()
    time.now += 61
    taker = Lease(registry, NAME, clock=time.clock, sleep=time.sleep).acquire()
    assert taker.held() and not dead.held()
    assert float(registry.models[LOCK]["tags"][EXPIRES]) > time.now
    dead.release()  # too late: it no longer owns it, and must not delete the new holder's
    assert taker.held()


def test_threads_contending_for_the_lease_never_hold_it_together():
    registry = FakeRegistry()
    inside, overlaps = [], []

    def work():
        for _ in range(5):
            with Lease(registry, NAME, wait=30):
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(len(inside))
                threading.Event().wait(0.001)
                inside.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert overlaps == []
    releases = [c for c in registry.log if c == ("delete_registered_model", LOCK)]
    assert len(releases) == 20  # every one of the 20 critical sections held and released it


class ReleasedWhileCreating(FakeRegistry):
    """MLflow's SQL store answers a duplicate name by reading the existing model; when the holder
    deletes it in between, the creator gets RESOURCE_DOES_NOT_EXIST (seen in a real race)."""

    def __init__(self, holder: Lease):
        super().__init__()
        self.holder, self.raced = holder, False

    def create_registered_model(self, name, tags=None, description=None):
        if name in self.models and not self.raced:
            self.raced = True
            self.holder.release()
            raise rest_error(
                "RESOURCE_DOES_NOT_EXIST", f"Registered Model with name={name} not found"
            )
        return super().create_registered_model(name, tags, description)


def test_a_lock_released_while_we_try_to_create_it_is_tried_again():
    time = FakeTime()
    registry = ReleasedWhileCreating(holder=None)
    registry.holder = Lease(registry, NAME, clock=time.clock).acquire()
    waiter = Lease(registry, NAME, clock=time.clock, sleep=time.sleep).acquire()
    assert registry.raced and waiter.held()


def test_release_deletes_only_its_own_lock():
    registry, time = FakeRegistry(), FakeTime()
    stale = Lease(registry, NAME, clock=time.clock, ttl=60).acquire()
    time.now += 61
    successor = Lease(registry, NAME, clock=time.clock, sleep=time.sleep, ttl=60).acquire()
    stale.release()
    assert successor.held()
    assert ("delete_registered_model", LOCK) in registry.log  # the takeover's, not the release's
    successor.release()
    assert LOCK not in registry.models


def test_a_lease_near_its_expiry_is_left_to_expire_rather_than_deleted():
    registry, time = FakeRegistry(), FakeTime()
    lease = Lease(registry, NAME, clock=time.clock, ttl=60).acquire()
    time.now += 31  # less than half the TTL left: a taker may be about to replace it
    lease.release()
    assert registry.models[LOCK]["tags"][OWNER] == lease.owner
    time.now += 30
    taker = Lease(registry, NAME, clock=time.clock, sleep=time.sleep, ttl=60).acquire()
    assert taker.held()


def test_confirm_refuses_a_lease_that_was_taken_over():
    registry, time = FakeRegistry(), FakeTime()
    stale = Lease(registry, NAME, clock=time.clock, ttl=60).acquire()
    time.now += 61
    taker = Lease(registry, NAME, clock=time.clock, sleep=time.sleep, ttl=60).acquire()
    with pytest.raises(LeaseLost, match=f"now held by {taker.owner}.*nothing moved"):
        stale.confirm()
    taker.confirm()


def test_confirm_refuses_a_lease_with_less_than_half_its_ttl_left():
    registry, time = FakeRegistry(), FakeTime()
    lease = Lease(registry, NAME, clock=time.clock, ttl=60).acquire()
    lease.confirm()
    time.now += 30.5
    with pytest.raises(LeaseLost, match="has 30 s of its 60 s left"):
        lease.confirm()


def test_the_lock_url_chooses_the_lease_and_anything_but_postgresql_is_one_line():
    from taller_mlflow.promotion.outcome import PromotionError
    from taller_mlflow.promotion.pg_lease import AdvisoryLease, lease_factory

    assert lease_factory("") is Lease
    advisory = lease_factory("postgresql+psycopg2://promoter@db:5432/mlflow")(FakeRegistry(), NAME)
    assert isinstance(advisory, AdvisoryLease) and advisory.conn is None  # connects on acquire
    with pytest.raises(PromotionError, match="must be a postgresql:// URL, not mysql:$"):
        lease_factory("mysql://root@db/mlflow")
