"""Rollback: point the alias back at the version the live one replaced, and say so on both."""

from taller_mlflow.promotion import history
from taller_mlflow.promotion import outcome as oc
from taller_mlflow.promotion.aliases import alias_target, move_and_confirm, ready_version
from taller_mlflow.promotion.fence import fence
from taller_mlflow.promotion.outcome import Outcome, PromotionError
from taller_mlflow.serving.manifest import SHA256_TAG, export_command


def rollback(
    client, name: str, alias: str, lease, now, say=print, path="rollback", evidence=None
) -> Outcome:
    """Under the promotion lease: follow the live version's promotion.previous_version tag; the
    move is fenced like a promotion's (the lease still ours, the alias still on `current`).
    `path` and `evidence` go to the alias's trail (promotion/history.py): the quality check's
    auto-rollback passes its own.
    Rolling back to a version registered before serving artifacts existed moves the alias, but
    the outcome warns that the API will not serve it until it is exported."""
    with lease(client, name, on_wait=say) as held:
        current = alias_target(client, name, alias)
        if current is None:
            raise PromotionError(f"{name} has no @{alias}: nothing to roll back")
        previous = dict(ready_version(client, name, current).tags or {}).get(oc.PREVIOUS)
        if not previous:
            raise PromotionError(
                f"{name} version {current} (@{alias}) records no previous version "
                f"({oc.PREVIOUS}): nothing to roll back to"
            )
        verified = dict(ready_version(client, name, previous).tags or {}).get(SHA256_TAG)
        fence(client, held, name, alias, current)
        move_and_confirm(client, name, previous, alias)
        note = f"{now()}: @{alias} moved back to version {previous}"
        client.set_model_version_tag(name, current, oc.ROLLED_BACK, note)
        history.record_move(
            client,
            name,
            alias,
            at=now(),
            previous=current,
            version=previous,
            path=path,
            evidence=evidence or f"@{alias} back to the version {current} replaced",
        )
    outcome = Outcome(name, alias, previous, oc.ROLLED_BACK_STATUS, previous=current)
    if not verified:
        outcome.warning = (
            f"warning: the API will NOT serve {name} version {previous}: it has no verified "
            f"serving artifact; verify it with: {export_command(name, previous)}"
        )
    return outcome
