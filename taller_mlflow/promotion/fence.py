"""The alias move a promotion makes under its lease, fenced: right before each write, the lease is
confirmed ours and the alias is read again, and nothing is written unless it still names the
version the candidate was compared with.

MLflow has no compare-and-set on an alias, so a window remains between the last read and the move
itself: one registry round trip. Everything slow happened before the lease was taken.
"""

from taller_mlflow.promotion import trail
from taller_mlflow.promotion.aliases import alias_target, move_and_confirm
from taller_mlflow.promotion.outcome import Outcome, PromotionError


class AliasMoved(PromotionError):
    """The alias no longer names the version a decision was made against."""


def fence(client, lease, name: str, alias: str, expected: str | None) -> None:
    lease.confirm()
    live = alias_target(client, name, alias)
    if live != expected:
        raise AliasMoved(
            f"@{alias} of {name} moved to {live or 'nothing'} (expected {expected or 'unset'}) "
            "while the decision was made: nothing moved; try again"
        )


def fenced_promotion(client, lease, outcome: Outcome, now: str) -> None:
    """Tag the candidate with its trail, then move the alias to it; each write fenced. The trail
    goes first, so a live version always has it; when the second fence fails, the tags written
    are put back as they were, so a version that never went live claims no predecessor."""
    name, alias = outcome.name, outcome.alias
    fence(client, lease, name, alias, outcome.previous)
    before = trail.record_promotion(client, outcome, now)
    try:
        fence(client, lease, name, alias, outcome.previous)
    except PromotionError:
        trail.restore(client, name, outcome.version, before)
        raise
    move_and_confirm(client, name, outcome.version, alias)
