"""The promotion lease against a real MLflow server (PostgreSQL backend, S3 through its proxy):
one promoter stalls inside its critical section while another promotes. Whatever the lock, the
alias moves once, and each version's `promotion.previous_version` is the version it really
replaced.

- The registry lease (a 15 s TTL here): the stalled promoter's lease expires, the other takes it
  over and moves the alias; the stalled one wakes, its fence finds the lease gone, and it moves
  nothing and puts back the trail tags it had written.
- The PostgreSQL advisory lock: nobody can take over a live holder's lock, so the other promoter
  gives up (PromotionBusy, its alias untouched) and the stalled one, once awake, moves the alias.

The candidates are real registered pipelines through the real gate (serving artifact, fresh-
process probe); only their evaluation rows come from the packaged CSV rather than a training run.
"""

import functools
import threading

import pytest
from mlflow import MlflowClient

from taller_mlflow.penguins import FEATURES, TARGET, clean, read_csv
from taller_mlflow.promotion import outcome as oc
from taller_mlflow.promotion.gate import Gate
from taller_mlflow.promotion.lease import Lease, LeaseLost, PromotionBusy, lock_name
from taller_mlflow.promotion.pg_lease import lease_factory
from tests.support.promotion import MODEL, log_version, register_again, registry_client
from tests.support.services import start_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("lease"))
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def first(stack):
    """A first version, live through the gate."""
    version, _ = log_version(stack)
    assert gate(stack, MlflowClient(stack.tracking_uri)).promote(version).status == oc.PROMOTED
    return version


class Recording:
    """An MlflowClient that counts its alias moves and, when armed, stalls at its first trail tag
    (inside the critical section, after the first fence) until released."""

    def __init__(self, tracking_uri: str, stall: bool = False):
        self.client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
        self.moves: list[str] = []
        self.stalled, self.resume = threading.Event(), threading.Event()
        self.stall = stall

    def __getattr__(self, name):
        return getattr(self.client, name)

    def set_model_version_tag(self, name, version, key, value):
        if self.stall and key == oc.PROMOTED_AT:
            self.stall = False
            self.stalled.set()
            assert self.resume.wait(timeout=300), "never resumed"
        return self.client.set_model_version_tag(name, version, key, value)

    def set_registered_model_alias(self, name, alias, version):
        self.moves.append(str(version))
        return self.client.set_registered_model_alias(name, alias, version)


def csv_rows(client, name, version):
    frame = clean(read_csv()).frame
    return frame[[*FEATURES, TARGET]].head(100).reset_index(drop=True)


def gate(stack, client, lease=Lease) -> Gate:
    return Gate(client, stack.tracking_uri, MODEL, eval_rows=csv_rows, lease=lease, say=print)


class Promoter:
    """gate.promote(version) on a thread; its outcome or its exception kept."""

    def __init__(self, gate_: Gate, version: str):
        self.result = None
        self.thread = threading.Thread(target=self._run, args=(gate_, version), daemon=True)
        self.thread.start()

    def _run(self, gate_, version):
        try:
            self.result = gate_.promote(version)
        except Exception as exc:  # noqa: BLE001 - the test asserts on it
            self.result = exc

    def join(self):
        self.thread.join(timeout=300)
        assert not self.thread.is_alive()
        return self.result


def alias_and_tags(stack, *versions):
    client = registry_client(stack)
    live = str(client.get_registered_model(MODEL).aliases["production"])
    return live, [dict(client.get_model_version(MODEL, v).tags) for v in versions]


def test_a_promoter_stalled_past_the_registry_ttl_moves_nothing_after_another_took_over(
    stack, first
):
    before = alias_and_tags(stack)[0]
    stalled_v, other_v = register_again(stack, first), register_again(stack, first)
    # 15 s: long enough that the taker's few requests fit in half of it on a loaded machine
    short = functools.partial(Lease, ttl=15.0)
    stalled = Recording(stack.tracking_uri, stall=True)
    other = Recording(stack.tracking_uri)
    a = Promoter(gate(stack, stalled, short), stalled_v)
    assert stalled.stalled.wait(timeout=300)  # A holds the lease, mid-trail
    b = Promoter(gate(stack, other, short), other_v)  # takes it over once A's TTL has run out
    b_outcome = b.join()
    stalled.resume.set()
    a_outcome = a.join()

    assert isinstance(a_outcome, LeaseLost), a_outcome
    assert "lost the promotion lease" in str(a_outcome)
    assert b_outcome.status == oc.PROMOTED and b_outcome.previous == before
    live, (a_tags, b_tags) = alias_and_tags(stack, stalled_v, other_v)
    assert live == other_v
    assert b_tags[oc.PREVIOUS] == before  # what it really replaced
    assert oc.PREVIOUS not in a_tags and oc.PROMOTED_AT not in a_tags  # put back: never live
    assert (stalled.moves, other.moves) == ([], [other_v])
    assert lock_name(MODEL) not in [
        m.name for m in registry_client(stack).search_registered_models()
    ]


def test_with_the_postgresql_lock_the_stalled_holder_keeps_it_and_the_other_gives_up(stack, first):
    before = alias_and_tags(stack)[0]
    stalled_v, other_v = register_again(stack, first), register_again(stack, first)
    advisory = lease_factory(stack.backend_store_uri)
    stalled = Recording(stack.tracking_uri, stall=True)
    other = Recording(stack.tracking_uri)
    a = Promoter(gate(stack, stalled, advisory), stalled_v)
    assert stalled.stalled.wait(timeout=300)
    impatient = functools.partial(advisory, wait=4.0)
    b_outcome = Promoter(gate(stack, other, impatient), other_v).join()
    stalled.resume.set()
    a_outcome = a.join()

    assert isinstance(b_outcome, PromotionBusy), b_outcome
    assert "PostgreSQL advisory lock" in str(b_outcome)
    assert a_outcome.status == oc.PROMOTED and a_outcome.previous == before
    live, (a_tags, b_tags) = alias_and_tags(stack, stalled_v, other_v)
    assert live == stalled_v and a_tags[oc.PREVIOUS] == before
    assert oc.PREVIOUS not in b_tags
    assert (stalled.moves, other.moves) == ([stalled_v], [])
