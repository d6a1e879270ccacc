"""The promotion gate's decisions, the order of its checks and the trail it leaves, against an
in-memory registry."""

import functools
import threading

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE

from taller_mlflow.promotion import checks as ck
from taller_mlflow.promotion import outcome as oc
from taller_mlflow.promotion.gate import Gate, promote_retrying
from taller_mlflow.promotion.lease import Lease, LeaseLost, PromotionBusy
from taller_mlflow.promotion.outcome import PromotionError
from taller_mlflow.promotion.probe import ProbeResult
from taller_mlflow.serving.manifest import FORMAT_TAG, SHA256_TAG
from tests.unit.promotion.fakes import NAME, FakeRegistry, Fixture, RightOn


class World:
    def __init__(self, tolerance: float = 0.01):
        self.registry = FakeRegistry()
        self.parts = Fixture(self.registry)
        self.said: list[str] = []
        self.gate = Gate(
            self.registry,
            "http://mlflow.test",
            NAME,
            "production",
            tolerance,
            probe=self.parts.probe,
            loader=self.parts.loader,
            eval_rows=self.parts.eval_rows,
            serving=self.parts.serving,
            agreement=lambda name, version: None,
            now=lambda: "2026-01-01T00:00:00+00:00",
            say=self.said.append,
        )

    def candidate(self, correct: int) -> str:
        version = self.registry.add_version()
        self.parts.models[version] = RightOn(correct)
        return version

    def production(self, correct: int) -> str:
        version = self.candidate(correct)
        assert self.gate.promote(version).status == oc.PROMOTED
        return version


@pytest.fixture
def world() -> World:
    return World()


def test_the_first_version_passes_the_comparison_and_goes_live(world):
    v1 = world.candidate(95)
    outcome = world.gate.promote(v1)
    assert outcome.status == oc.PROMOTED and outcome.previous is None
    assert world.registry.alias() == v1 and world.registry.stage(v1) == "Production"
    tags = world.registry.tags(v1)
    assert oc.PREVIOUS not in tags
    assert tags[oc.FORCED] == "false" and tags[oc.PROMOTED_AT].startswith("2026-01-01")
    assert "no production version to compare with" in tags[oc.EVALUATION]
    assert outcome.line() == f"{NAME} version {v1} is now @production (was unset)"


def test_a_worse_candidate_is_rejected_and_the_alias_stays(world):
    v1 = world.production(99)
    v2 = world.candidate(80)
    outcome = world.gate.promote(v2)
    assert outcome.status == oc.REJECTED_STATUS
    assert world.registry.alias() == v1 and world.registry.stage(v1) == "Production"
    assert (outcome.candidate_accuracy, outcome.production_accuracy) == (0.80, 0.99)
    reason = world.registry.tags(v2)[oc.REJECTED]
    assert "0.8000 on 100 evaluation rows is below production version 1's 0.9900" in reason
    assert oc.PREVIOUS not in world.registry.tags(v2)
    assert outcome.line().startswith(f"{NAME} version {v2} rejected (@production stays on")


def test_equal_or_better_candidates_are_promoted_and_record_what_they_replaced(world):
    v1 = world.production(97)
    v2 = world.production(97)
    v3 = world.production(100)
    assert world.registry.alias() == v3
    assert world.registry.tags(v2)[oc.PREVIOUS] == v1
    assert world.registry.tags(v3)[oc.PREVIOUS] == v2
    assert [world.registry.stage(v) for v in (v1, v2, v3)] == ["Archived", "Archived", "Production"]


@pytest.mark.parametrize("correct, promoted", [(98, True), (97, False)])
def test_the_tolerance_is_inclusive_and_exact(correct, promoted):
    world = World(tolerance=0.01)
    world.production(99)
    outcome = world.gate.promote(world.candidate(correct))
    assert (outcome.status == oc.PROMOTED) is promoted


def test_a_candidate_that_does_not_load_in_a_fresh_process_is_rejected(world):
    v1 = world.production(99)
    v2 = world.candidate(100)
    world.parts.probes[v2] = ProbeResult(False, False, "cannot load: ModuleNotFoundError: x")
    outcome = world.gate.promote(v2)
    assert outcome.status == oc.REJECTED_STATUS and world.registry.alias() == v1
    failed = [c.name for c in outcome.failures()]
    assert failed == ["loads in a fresh process without S3 keys", "predicts its input example"]
    assert "ModuleNotFoundError" in world.registry.tags(v2)[oc.REJECTED]


def test_the_graph_is_verified_and_logged_before_the_fresh_process_probe_loads_it(world):
    v1 = world.candidate(99)
    outcome = world.gate.promote(v1)
    assert world.parts.events == [("serving", v1), ("probe", v1)]
    assert [c.name for c in outcome.checks] == [ck.SERVING, ck.LOADS, ck.PREDICTS, ck.ACCURACY]
    assert all(c.passed for c in outcome.checks)
    assert "sha256 abababababab" in outcome.checks[1].detail  # the graph the probe loaded
    tags = world.registry.tags(v1)
    assert tags[FORMAT_TAG] == "onnx" and tags[SHA256_TAG] == "ab" * 32


def test_a_graph_that_disagrees_rejects_the_candidate_and_the_probe_gets_no_artifact(world):
    v1 = world.production(99)
    v2 = world.candidate(100)
    world.parts.serving_fails.add(v2)
    outcome = world.gate.promote(v2)
    assert outcome.status == oc.REJECTED_STATUS and world.registry.alias() == v1
    assert [c.name for c in outcome.failures()] == [ck.SERVING, ck.LOADS, ck.PREDICTS]
    loads = next(c for c in outcome.checks if c.name == ck.LOADS)
    assert f"{NAME}/{v2} has no verified serving artifact" in loads.detail
    assert f"python -m taller_mlflow.promote --export {v2}" in loads.detail
    assert SHA256_TAG not in world.registry.tags(v2)
    assert outcome.warning is None


def test_a_candidate_that_does_not_load_here_fails_the_graph_check_without_converting(world):
    v1 = world.production(99)
    v2 = world.candidate(100)
    world.parts.broken[v2] = ModuleNotFoundError("No module named 'xgboost'")
    outcome = world.gate.promote(v2)
    assert outcome.status == oc.REJECTED_STATUS and world.registry.alias() == v1
    assert ("serving", v2) not in world.parts.events
    serving = outcome.checks[0]
    assert serving.name == ck.SERVING and not serving.passed
    assert serving.detail == "cannot load here: No module named 'xgboost'"


def test_a_forced_promotion_of_an_unverified_graph_moves_the_alias_and_warns_it_is_not_served(
    world,
):
    v1 = world.production(99)
    v2 = world.candidate(100)
    world.parts.serving_fails.add(v2)
    outcome = world.gate.promote(v2, force=True)
    assert outcome.status == oc.PROMOTED and world.registry.alias() == v2
    assert ck.SERVING in world.registry.tags(v2)[oc.FORCED_OVER]
    assert outcome.warning == (
        f"warning: the API will NOT serve {NAME} version {v2}: it has no verified serving "
        f"artifact; @production keeps serving version {v1}, the last verified one. Once its "
        f"graph can be verified: python -m taller_mlflow.promote --export {v2}"
    )


def test_the_warning_names_the_last_verified_version_down_the_trail(world):
    v1 = world.production(99)
    forced = []
    for _ in range(2):
        version = world.candidate(100)
        world.parts.serving_fails.add(version)
        forced.append(world.gate.promote(version, force=True))
    assert forced[1].previous == forced[0].version
    assert f"keeps serving version {v1}, the last verified one" in forced[1].warning


def test_with_no_verified_version_at_all_the_warning_says_nothing_can_be_served(world):
    v1 = world.candidate(99)
    world.parts.serving_fails.add(v1)
    outcome = world.gate.promote(v1, force=True)
    assert "@production has no verified version of it to serve" in outcome.warning


def test_a_forced_promotion_over_accuracy_alone_is_served_and_warns_nothing(world):
    world.production(99)
    outcome = world.gate.promote(world.candidate(50), force=True)
    assert outcome.status == oc.PROMOTED and outcome.warning is None


def test_no_evaluation_rows_means_no_promotion_though_the_graph_is_still_verified(world):
    v1 = world.production(99)
    v2 = world.candidate(100)
    world.parts.rows[v2] = None
    outcome = world.gate.promote(v2)
    assert outcome.status == oc.REJECTED_STATUS and world.registry.alias() == v1
    assert [c.name for c in outcome.failures()] == [ck.ACCURACY]
    assert "no readable evaluation/eval_rows.csv" in outcome.reason()
    assert world.parts.served_rows[v2] is None  # verified on the packaged CSV alone


def test_a_production_version_that_cannot_be_scored_fails_closed(world):
    v1 = world.production(99)
    v2 = world.candidate(100)
    world.parts.broken[v1] = OSError("connection reset")
    outcome = world.gate.promote(v2)
    assert outcome.status == oc.REJECTED_STATUS and world.registry.alias() == v1
    assert "cannot score production version 1: connection reset" in outcome.reason()


def test_force_promotes_over_failed_checks_and_says_so_in_tags(world):
    v1 = world.production(99)
    v2 = world.candidate(50)
    outcome = world.gate.promote(v2, force=True)
    assert outcome.status == oc.PROMOTED and world.registry.alias() == v2
    tags = world.registry.tags(v2)
    assert tags[oc.FORCED] == "true" and tags[oc.PREVIOUS] == v1
    assert "below production version 1" in tags[oc.FORCED_OVER]
    assert "forced over" in outcome.line()


def test_promoting_the_live_version_again_changes_nothing(world):
    v1 = world.production(99)
    before = world.registry.tags(v1)
    probed = list(world.parts.probed)
    outcome = world.gate.promote(v1)
    assert outcome.status == oc.UNCHANGED
    assert world.registry.tags(v1) == before and world.parts.probed == probed
    assert "already @production" in outcome.line()


def test_a_rejected_version_promoted_later_loses_its_rejection_tag(world):
    world.production(99)
    v2 = world.candidate(90)
    world.gate.promote(v2)
    assert oc.REJECTED in world.registry.tags(v2)
    world.gate.promote(v2, force=True)
    assert oc.REJECTED not in world.registry.tags(v2)


def test_an_unknown_version_is_one_clear_error(world):
    world.production(99)
    with pytest.raises(PromotionError, match="modelo_penguins version 9: .*not found"):
        world.gate.promote("9")


def test_rollback_moves_the_alias_back_one_promotion_at_a_time(world):
    v1 = world.production(97)
    v2 = world.production(98)
    v3 = world.production(99)
    outcome = world.gate.rollback()
    assert (outcome.status, outcome.version, outcome.previous) == (oc.ROLLED_BACK_STATUS, v2, v3)
    assert world.registry.alias() == v2 and world.registry.stage(v2) == "Production"
    assert world.registry.stage(v3) == "Archived"
    assert "moved back to version 2" in world.registry.tags(v3)[oc.ROLLED_BACK]
    assert world.gate.rollback().version == v1
    with pytest.raises(PromotionError, match="records no previous version"):
        world.gate.rollback()
    assert world.registry.alias() == v1


def test_rollback_without_production_is_one_clear_error(world):
    world.candidate(99)
    with pytest.raises(PromotionError, match="has no @production: nothing to roll back"):
        world.gate.rollback()


def test_a_rolled_back_version_promoted_again_records_its_new_predecessor(world):
    v1 = world.production(97)
    v2 = world.production(98)
    world.gate.rollback()
    world.gate.promote(v2)
    tags = world.registry.tags(v2)
    assert tags[oc.PREVIOUS] == v1 and oc.ROLLED_BACK not in tags


def test_racing_promotions_queue_and_each_records_the_version_it_replaced(world):
    """Both candidates pass their own checks at the same moment, then race for the alias."""
    v1 = world.production(97)
    racers = [world.candidate(98), world.candidate(98)]
    barrier = threading.Barrier(2)
    probe = world.parts.probe

    def probe_then_meet(*args):
        result = probe(*args)
        barrier.wait(timeout=10)  # both are past their own checks: now they contend
        return result

    world.parts.probe = probe_then_meet
    world.gate.probe = probe_then_meet
    outcomes = {}
    threads = [
        threading.Thread(target=lambda v=v: outcomes.update({v: world.gate.promote(v)}))
        for v in racers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(o.status == oc.PROMOTED for o in outcomes.values())
    live = world.registry.alias()
    (other,) = [v for v in racers if v != live]
    assert world.registry.tags(live)[oc.PREVIOUS] == other
    assert world.registry.tags(other)[oc.PREVIOUS] == v1
    stages = [world.registry.stage(v) for v in (v1, *racers)]
    assert stages.count("Production") == 1
    assert "modelo_penguins.promotion-lock" not in world.registry.models  # released


def test_training_retries_a_promotion_the_registry_interrupted(world):
    v1 = world.production(97)
    v2 = world.candidate(99)
    move = world.registry.set_registered_model_alias
    failures = [MlflowException("backend store unavailable", error_code=TEMPORARILY_UNAVAILABLE)]

    def flaky_move(*args):
        if failures:
            raise failures.pop()
        return move(*args)

    world.registry.set_registered_model_alias = flaky_move
    sleeps = []
    outcome = promote_retrying(world.gate, v2, timeout=60, sleep=sleeps.append)
    assert (outcome.status, world.registry.alias(), len(sleeps)) == (oc.PROMOTED, v2, 1)
    assert world.registry.tags(v2)[oc.PREVIOUS] == v1
    assert "modelo_penguins.promotion-lock" not in world.registry.models


def test_a_promotion_error_that_is_not_transient_is_not_retried(world):
    sleeps = []
    with pytest.raises(PromotionError, match="version 7"):
        promote_retrying(world.gate, "7", timeout=60, sleep=sleeps.append)
    assert sleeps == []


def test_rolling_back_to_a_version_without_a_serving_artifact_warns_and_names_the_export(world):
    v1 = world.production(97)
    world.production(98)
    world.registry.delete_model_version_tag(NAME, v1, SHA256_TAG)  # as if registered long ago
    outcome = world.gate.rollback()
    assert outcome.version == v1 and world.registry.alias() == v1
    assert outcome.warning == (
        f"warning: the API will NOT serve {NAME} version {v1}: it has no verified serving "
        f"artifact; verify it with: python -m taller_mlflow.promote --export {v1}"
    )


def test_rolling_back_to_a_verified_version_warns_nothing(world):
    world.production(97)
    world.production(98)
    assert world.gate.rollback().warning is None


def test_when_the_alias_moves_before_the_lease_the_version_live_then_is_scored(world):
    v1 = world.production(97)
    world.production(98)  # live when the promotion starts
    v3 = world.candidate(98)
    lease = world.gate.lease

    def moved_meanwhile(client, name, **kwargs):  # a rollback to v1 lands just before the lease
        world.registry.set_registered_model_alias(name, "production", v1)
        return lease(client, name, **kwargs)

    world.gate.lease = moved_meanwhile
    outcome = world.gate.promote(v3)
    assert outcome.status == oc.PROMOTED and outcome.previous == v1
    assert outcome.production_accuracy == 0.97  # v1's, not the 0.98 of the version live before
    assert world.registry.tags(v3)[oc.PREVIOUS] == v1


class NotedLease(Lease):
    """The registry lease, noting when it is taken and losing itself at its `lose_at`th fence."""

    def __init__(self, client, name, *, events, lose_at=None, **kwargs):
        super().__init__(client, name, **kwargs)
        self.events, self.lose_at, self.confirms = events, lose_at, 0

    def acquire(self):
        self.events.append(("lease", "acquire"))
        return super().acquire()

    def confirm(self):
        self.confirms += 1
        if self.confirms == self.lose_at:
            raise LeaseLost("lost the promotion lease of modelo_penguins: try again")
        return super().confirm()


def test_production_is_loaded_and_scored_before_the_lease_is_taken(world):
    v1 = world.production(97)
    v2 = world.candidate(98)
    loader = world.gate.loader

    def noted_loader(name, version):
        world.parts.events.append(("load", version))
        return loader(name, version)

    world.gate.loader = noted_loader
    world.gate.lease = functools.partial(NotedLease, events=world.parts.events)
    world.parts.events.clear()
    assert world.gate.promote(v2).status == oc.PROMOTED
    assert world.parts.events[-2:] == [("load", v1), ("lease", "acquire")]


def test_a_lease_lost_before_the_move_moves_nothing_and_puts_the_trail_back(world):
    v1 = world.production(97)
    v2 = world.candidate(98)
    world.registry.set_model_version_tag(NAME, v2, oc.REJECTED, "earlier: rejected")
    # the second fence: after the trail is written, before the move
    world.gate.lease = functools.partial(NotedLease, events=[], lose_at=2)
    with pytest.raises(LeaseLost):
        world.gate.promote(v2)
    assert world.registry.alias() == v1
    tags = world.registry.tags(v2)
    assert oc.PREVIOUS not in tags and oc.PROMOTED_AT not in tags
    assert tags[oc.REJECTED] == "earlier: rejected"


def test_an_alias_that_keeps_moving_while_it_is_scored_ends_in_busy_not_a_move(world):
    v1 = world.production(97)
    v2 = world.production(97)
    v3 = world.candidate(98)
    lease = world.gate.lease
    flip = {v1: v2, v2: v1}

    def moving(client, name, **kwargs):  # every time the lease is taken, the alias has moved
        world.registry.set_registered_model_alias(name, "production", flip[world.registry.alias()])
        return lease(client, name, **kwargs)

    world.gate.lease = moving
    with pytest.raises(PromotionBusy, match="moved 3 times while version 3 was compared"):
        world.gate.promote(v3)
    assert world.registry.alias() in (v1, v2) and oc.PREVIOUS not in world.registry.tags(v3)


def test_a_rollback_whose_alias_moved_under_the_lease_moves_nothing(world):
    world.production(97)
    v2 = world.production(98)
    v3 = world.candidate(99)
    lease = world.gate.lease

    def moved(client, name, **kwargs):
        taken = lease(client, name, **kwargs)
        original = taken.confirm

        def confirm():  # someone moved the alias with no lease at all (an admin, by hand)
            world.registry.set_registered_model_alias(name, "production", v3)
            original()

        taken.confirm = confirm
        return taken

    world.gate.lease = moved
    with pytest.raises(PromotionError, match=f"moved to {v3} .expected {v2}."):
        world.gate.rollback()
    assert world.registry.alias() == v3
