"""How a version came to be live, read from the registry's tags: the alias's move trail
(`promotion.move.<alias>.<ms>` registered-model tags, written by taller_mlflow/promotion/history.py)
and the version's own `promotion.*` tags. Here, in the serving layer, because the API's audit
endpoint reads them over REST, and the promotion layer (which writes them) is not the API's.
"""

import json

MOVE_PREFIX = "promotion.move."
VERSION_PREFIX = "promotion."


def moves_from_tags(tags: dict, alias: str | None = None) -> list[dict]:
    """The trail in time order (the keys end in zero-padded milliseconds); of one alias when
    given. An entry that is not a JSON object is skipped."""
    found = []
    for key in sorted(k for k in tags if k.startswith(MOVE_PREFIX)):
        try:
            move = json.loads(tags[key])
        except ValueError:
            continue
        if isinstance(move, dict) and (alias is None or move.get("alias") == alias):
            found.append(move)
    return found


def went_live(moves: list[dict], version: str, before: str | None = None) -> dict | None:
    """The last move that made `version` live, at or before `before` (ISO 8601 UTC) if given."""
    hits = [
        m
        for m in moves
        if m.get("to") == version and (before is None or str(m.get("at", "")) <= before)
    ]
    return hits[-1] if hits else None


def promotion_of(model_tags: dict, version_tags: dict, alias: str, version: str, before=None):
    """What put `version` live behind `alias`: the move (when, from, path, evidence), with the
    version's promotion.* tags; from the tags alone when no move was recorded (versions promoted
    before the trail existed)."""
    tags = {k: v for k, v in version_tags.items() if k.startswith(VERSION_PREFIX)}
    move = went_live(moves_from_tags(model_tags, alias), version, before)
    if move is None and "promotion.promoted_at" in tags:
        forced = tags.get("promotion.forced") == "true"
        move = {
            "at": tags["promotion.promoted_at"],
            "alias": alias,
            "from": tags.get("promotion.previous_version"),
            "to": version,
            "path": "force" if forced else "gate",
            "evidence": tags.get("promotion.evaluation"),
        }
    forced = move is not None and move.get("path") == "force"
    return {"move": move, "forced": forced, "tags": tags}
