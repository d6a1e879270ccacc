"""The auto-rollback's bounds over the in-memory registry and the real rollback: it acts once, on
the live version, with its path and evidence in the alias's trail, and never walks further back."""

import json

import pytest

from taller_mlflow.promotion import history
from taller_mlflow.promotion.autorollback import DONE_TAG, NotRolledBack, decide
from taller_mlflow.promotion.lease import Lease
from taller_mlflow.promotion.rollback import rollback
from tests.unit.promotion.fakes import NAME, FakeRegistry

EVIDENCE = {"accuracy": 0.6, "floor": 0.92, "labels": 50, "quality_run_id": "q-1"}


@pytest.fixture
def registry():
    registry = FakeRegistry()
    for _ in range(3):
        registry.add_version()
    registry.set_registered_model_alias(NAME, "production", "2")
    registry.set_model_version_tag(NAME, "2", "promotion.previous_version", "1")
    registry.set_registered_model_alias(NAME, "production", "3")
    registry.set_model_version_tag(NAME, "3", "promotion.previous_version", "2")
    return registry


def real_rollback(registry):
    def run(path, evidence):
        return rollback(registry, NAME, "production", Lease, lambda: "2026-12-03T08:00:00+00:00",
                        lambda _: None, path, evidence)  # fmt: skip

    return run


def test_auto_rollback_moves_production_back_once_with_the_tag_trail(registry):
    outcome = decide(registry, NAME, "production", "3", EVIDENCE, real_rollback(registry))
    assert registry.alias() == "2" and outcome.line().startswith("@production rolled back")
    assert json.loads(registry.tags("3")[DONE_TAG]) == EVIDENCE
    assert "moved back to version 2" in registry.tags("3")["promotion.rolled_back"]
    [move] = history.moves(registry, NAME, "production")
    assert (move["from"], move["to"], move["path"]) == ("3", "2", "auto-rollback")
    assert move["evidence"] == EVIDENCE


def test_auto_rollback_never_goes_past_the_version_it_restored(registry):
    decide(registry, NAME, "production", "3", EVIDENCE, real_rollback(registry))
    with pytest.raises(NotRolledBack, match="put live by path 'auto-rollback'"):
        decide(registry, NAME, "production", "2", EVIDENCE, real_rollback(registry))
    assert registry.alias() == "2"


def test_auto_rollback_happens_at_most_once_per_version(registry):
    registry.set_model_version_tag(NAME, "3", DONE_TAG, "{}")
    with pytest.raises(NotRolledBack, match="once already"):
        decide(registry, NAME, "production", "3", EVIDENCE, real_rollback(registry))
    assert registry.alias() == "3"


def test_auto_rollback_leaves_a_version_that_is_not_live(registry):
    with pytest.raises(NotRolledBack, match="version 2 is not @production"):
        decide(registry, NAME, "production", "2", EVIDENCE, real_rollback(registry))


@pytest.mark.parametrize(
    ("evidence", "why"),
    [({"accuracy": 0.95, "floor": 0.92, "labels": 50}, "not below"), ({"accuracy": 0.5}, "lacks")],
)
def test_auto_rollback_refuses_evidence_that_shows_no_breach(registry, evidence, why):
    with pytest.raises(NotRolledBack, match=why):
        decide(registry, NAME, "production", "3", evidence, real_rollback(registry))
    assert registry.alias() == "3"


def test_a_manual_rollback_and_a_gate_move_leave_their_paths_in_the_history(registry):
    rollback(registry, NAME, "production", Lease, lambda: "t1", lambda _: None)
    [move] = history.moves(registry, NAME, "production")
    assert (move["at"], move["from"], move["to"], move["path"]) == ("t1", "3", "2", "rollback")
    assert history.line(move).startswith("t1  @production  3 -> 2  [rollback]")


def test_the_promote_command_takes_history_and_auto_rollback_with_evidence_only():
    from taller_mlflow.promotion.promote_cli import parse_args

    assert parse_args(["--history"]).history
    args = parse_args(["--auto-rollback", "3", "--evidence", json.dumps(EVIDENCE)])
    assert (args.auto_rollback, args.evidence) == ("3", EVIDENCE)
    for bad in (["--auto-rollback", "3"], ["--history", "3"], ["--evidence", "[1]", "--history"]):
        with pytest.raises(SystemExit):
            parse_args(bad)


def test_moves_made_before_the_trail_are_rebuilt_from_the_version_tags(registry):
    registry.set_model_version_tag(NAME, "2", "promotion.promoted_at", "2026-01-01T00:00:00+00:00")
    registry.set_model_version_tag(NAME, "3", "promotion.promoted_at", "2026-02-01T00:00:00+00:00")
    registry.set_model_version_tag(NAME, "3", "promotion.forced", "true")
    note = "2026-03-01T00:00:00+00:00: @production moved back to version 2"
    registry.set_model_version_tag(NAME, "3", "promotion.rolled_back", note)
    old = history.untracked_moves(registry, NAME, "production")
    assert [(m["from"], m["to"], m["path"]) for m in old] == [
        ("1", "2", "gate"),
        ("2", "3", "force"),
        ("3", "2", "rollback"),
    ]
    assert history.untracked_moves(registry, NAME, "production", "2026-02-01") == old[:1]
    assert "(from version tags)" in history.line(old[0])
