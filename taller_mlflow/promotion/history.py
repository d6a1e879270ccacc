"""Every move of a served alias, as registered-model tags: when, from which version to which, by
which path, and the evidence it rested on.

Version tags (promotion.promoted_at, promotion.rolled_back, ...) keep only a version's latest
promotion and say nothing of a rollback on the version it restored, so they cannot answer "which
version was live when?". Each move therefore appends one tag to the registered model,
`promotion.move.<alias>.<milliseconds>`, whose value is JSON:
{"at", "alias", "from", "to", "path", "evidence"}; path is gate, force, rollback or
auto-rollback. The moves of `python -m taller_mlflow.promote --history` and of the API's audit
endpoint are these tags, read back in time order. Moves made before this trail existed left none.
"""

import json
import re
import time

from taller_mlflow.promotion import outcome as oc
from taller_mlflow.promotion.outcome import clip
from taller_mlflow.serving.promotions import MOVE_PREFIX as PREFIX
from taller_mlflow.serving.promotions import moves_from_tags

PATHS = ("gate", "force", "rollback", "auto-rollback")
# promotion.rolled_back, as rollback.py writes it: "<when>: @<alias> moved back to version <n>"
ROLLBACK_NOTE = re.compile(r"^(?P<at>\S+): @(?P<alias>\S+) moved back to version (?P<to>\d+)")


def move_key(alias: str, millis: int) -> str:
    return f"{PREFIX}{alias}.{millis:013d}"


def record_move(
    client, name: str, alias: str, *, at: str, previous, version, path: str, evidence
) -> None:
    """Append the move to the model's trail (called under the promotion lease, after the move)."""
    body = {
        "at": at,
        "alias": alias,
        "from": previous,
        "to": str(version),
        "path": path,
        "evidence": evidence,
    }
    text = json.dumps(body, sort_keys=True)
    if len(text) > 4000:  # MLflow caps a tag value: keep the facts, clip the evidence
        body["evidence"] = clip(json.dumps(evidence))[:3000]
        text = json.dumps(body, sort_keys=True)
    client.set_registered_model_tag(name, move_key(alias, time.time_ns() // 1_000_000), text)


def moves(client, name: str, alias: str | None = None) -> list[dict]:
    return moves_from_tags(dict(client.get_registered_model(name).tags or {}), alias)


def untracked_moves(client, name: str, alias: str, before: str | None = None) -> list[dict]:
    """Moves made before this trail existed (or before `before`), rebuilt from the versions'
    tags: each version's last promotion (promotion.promoted_at, .previous_version, .forced) and
    last rollback away from it (promotion.rolled_back). Partial by nature: a version promoted
    twice kept only its latest promotion. Marked "source": "version tags"."""
    found = []
    for mv in client.search_model_versions(f"name='{name}'"):
        tags, version = dict(mv.tags or {}), str(mv.version)
        if tags.get(oc.PROMOTED_AT):
            forced = tags.get(oc.FORCED) == "true"
            found.append({
                "at": tags[oc.PROMOTED_AT], "alias": alias, "from": tags.get(oc.PREVIOUS),
                "to": version, "path": "force" if forced else "gate",
                "evidence": tags.get(oc.EVALUATION), "source": "version tags",
            })  # fmt: skip
        note = ROLLBACK_NOTE.match(tags.get(oc.ROLLED_BACK, ""))
        if note and note["alias"] == alias:
            found.append({
                "at": note["at"], "alias": alias, "from": version, "to": note["to"],
                "path": "rollback", "evidence": tags[oc.ROLLED_BACK], "source": "version tags",
            })  # fmt: skip
    older = [m for m in found if before is None or m["at"] < before]
    return sorted(older, key=lambda m: m["at"])


def evidence_of(outcome) -> dict:
    """What a gate decision rested on: each check's detail, the shadow agreement."""
    evidence = {c.name: c.detail for c in outcome.checks}
    if outcome.agreement is not None:
        evidence["agreement"] = outcome.agreement
    if outcome.forced and outcome.failures():
        evidence["forced_over"] = outcome.reason()
    return evidence


def line(move: dict) -> str:
    """One move for --history: time, from -> to, path, evidence."""
    evidence = move.get("evidence")
    if isinstance(evidence, dict):
        evidence = "; ".join(f"{k}: {v}" for k, v in evidence.items())
    was = move.get("from") or "unset"
    source = " (from version tags)" if move.get("source") else ""
    return (
        f"{move.get('at')}  @{move.get('alias')}  {was} -> {move.get('to')}  "
        f"[{move.get('path')}]{source}  {evidence or ''}".rstrip()
    )
