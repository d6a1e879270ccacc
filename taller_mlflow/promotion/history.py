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
import time

from taller_mlflow.promotion.outcome import clip
from taller_mlflow.serving.promotions import MOVE_PREFIX as PREFIX
from taller_mlflow.serving.promotions import moves_from_tags

PATHS = ("gate", "force", "rollback", "auto-rollback")


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
    return (
        f"{move.get('at')}  @{move.get('alias')}  {was} -> {move.get('to')}  "
        f"[{move.get('path')}]  {evidence or ''}".rstrip()
    )
