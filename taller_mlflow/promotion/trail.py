"""The tags a promotion decision leaves on versions: why a candidate was rejected, what a
promoted one replaced (which a rollback follows), and whether the API can serve what went live.
"""

from taller_mlflow.promotion import checks as ck
from taller_mlflow.promotion import outcome as oc
from taller_mlflow.promotion.outcome import Outcome
from taller_mlflow.serving.manifest import SHA256_TAG, export_command

TRAIL_LIMIT = 100  # promotions walked back to find the last verified version


def record_rejection(client, outcome: Outcome, now: str) -> None:
    outcome.status = oc.REJECTED_STATUS
    reason = f"{now}: {outcome.reason()}"
    client.set_model_version_tag(outcome.name, outcome.version, oc.REJECTED, oc.clip(reason))


def record_promotion(client, outcome: Outcome, now: str) -> dict:
    """Tag the version about to go live; called before the move, so the trail is there once it
    is live. Stale tags from an earlier life of the version would mislead a later rollback.
    Returns the version's trail tags as they were before, for restore()."""
    name, version = outcome.name, outcome.version
    tags = {
        oc.PROMOTED_AT: now,
        oc.FORCED: str(outcome.forced).lower(),
        oc.EVALUATION: next(c.detail for c in outcome.checks if c.name == ck.ACCURACY),
    }
    if outcome.previous is not None:
        tags[oc.PREVIOUS] = outcome.previous
    if outcome.forced and outcome.failures():
        tags[oc.FORCED_OVER] = outcome.reason()
    existing = dict(client.get_model_version(name, version).tags or {})
    stale = [oc.REJECTED, oc.FORCED_OVER, oc.ROLLED_BACK] + [oc.PREVIOUS] * (
        outcome.previous is None
    )
    for key in stale:
        if key in existing and key not in tags:
            client.delete_model_version_tag(name, version, key)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, oc.clip(value))
    return {key: existing.get(key) for key in {*tags, *stale}}


def restore(client, name: str, version: str, before: dict) -> None:
    """Put the trail tags record_promotion changed back as they were (None: absent)."""
    now = dict(client.get_model_version(name, version).tags or {})
    for key, value in before.items():
        if value is None and key in now:
            client.delete_model_version_tag(name, version, key)
        elif value is not None and now.get(key) != value:
            client.set_model_version_tag(name, version, key, value)


def last_verified(client, name: str, version: str | None) -> str | None:
    """`version`, or the version it replaced, and so on: the first that has a serving artifact."""
    seen: set[str] = set()
    while version is not None and version not in seen and len(seen) < TRAIL_LIMIT:
        seen.add(version)
        tags = dict(client.get_model_version(name, version).tags or {})
        if tags.get(SHA256_TAG):
            return version
        version = tags.get(oc.PREVIOUS)
    return None


def unserved_warning(client, outcome: Outcome) -> str | None:
    """For a version forced live without a verified serving artifact: the line saying the API
    will not serve it, what it serves instead, and the command that would export it."""
    failed = {c.name for c in outcome.failures()}
    if not failed & {ck.SERVING, ck.LOADS}:
        return None
    fallback = last_verified(client, outcome.name, outcome.previous)
    instead = (
        f"keeps serving version {fallback}, the last verified one"
        if fallback
        else "has no verified version of it to serve"
    )
    return (
        f"warning: the API will NOT serve {outcome.name} version {outcome.version}: it has no "
        f"verified serving artifact; @{outcome.alias} {instead}. Once its graph can be verified: "
        f"{export_command(outcome.name, outcome.version)}"
    )
