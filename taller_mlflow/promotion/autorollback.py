"""The quality alarm that acts: with TALLER_AUTO_ROLLBACK=true, the monitoring job asks for this
when a live version's realised accuracy fell below its floor (held-out accuracy minus
TALLER_QUALITY_TOLERANCE, over at least TALLER_MONITOR_MIN_LABELS labels), through
`python -m taller_mlflow.promote --auto-rollback VERSION --evidence JSON` (the monitoring layer
sits below promotion and does not import it). Here the existing rollback
(taller_mlflow.promotion.rollback) runs, under the promotion lease, with path "auto-rollback".

Bounded on purpose, so a bad window or a bad label feed cannot walk the alias back through
history: a version is rolled back automatically at most once (its tag quality.auto_rolled_back),
and never a version that a rollback itself put live (the alias's last move to it is a rollback):
the auto-rollback stops at the first version it restores, and a human decides what comes next.
"""

import json

from taller_mlflow.promotion import history
from taller_mlflow.promotion.aliases import alias_target
from taller_mlflow.promotion.outcome import PromotionError

DONE_TAG = "quality.auto_rolled_back"
ROLLBACK_PATHS = ("rollback", "auto-rollback")
EVIDENCE_KEYS = ("accuracy", "floor", "labels")


class NotRolledBack(PromotionError):
    """The auto-rollback declined: the version is not live, was rolled back once already, was put
    live by a rollback, or its evidence shows no breach. The message says which."""


def decide(client, name: str, alias: str, version: str, evidence: dict, rollback):
    """Roll `version` back if the bounds allow; the rollback's Outcome, else NotRolledBack.
    `rollback(path=..., evidence=...)` runs the real rollback."""
    missing = [k for k in EVIDENCE_KEYS if not isinstance(evidence.get(k), int | float)]
    if missing:
        raise NotRolledBack(f"the evidence lacks {', '.join(missing)}")
    if not evidence["accuracy"] < evidence["floor"]:
        raise NotRolledBack(
            f"accuracy {evidence['accuracy']} is not below the floor {evidence['floor']}"
        )
    live = alias_target(client, name, alias)
    if live != version:
        raise NotRolledBack(f"version {version} is not @{alias} (it is {live or 'unset'})")
    if DONE_TAG in dict(client.get_model_version(name, version).tags or {}):
        raise NotRolledBack(f"version {version} was rolled back automatically once already")
    last = [m for m in history.moves(client, name, alias) if m.get("to") == version][-1:]
    if last and last[0].get("path") in ROLLBACK_PATHS:
        raise NotRolledBack(f"version {version} was put live by path '{last[0]['path']}'")
    outcome = rollback(path="auto-rollback", evidence=evidence)
    client.set_model_version_tag(name, version, DONE_TAG, json.dumps(evidence, sort_keys=True))
    return outcome
