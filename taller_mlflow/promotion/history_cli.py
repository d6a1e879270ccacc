"""The promote command's --history and --auto-rollback (taller_mlflow/promotion/promote_cli.py)."""

import argparse
import json

from taller_mlflow.mlflow_setup import check_server
from taller_mlflow.promotion import autorollback, history


def evidence_json(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{text[:80]!r} is not a JSON object")
    return value


def run_trail(args: argparse.Namespace, settings, finish) -> int:
    """--history (print the alias's moves) or --auto-rollback (the quality check's request)."""
    client = check_server(settings.mlflow_tracking_uri)
    name, alias = settings.model_name, settings.model_alias
    if args.history:
        moves = history.moves(client, name, alias)
        # the version tags repeat the trail's own moves: only older, other ones are added
        before = moves[0].get("at") if moves else None
        tracked = {(m.get("from"), m.get("to")) for m in moves}
        older = history.untracked_moves(client, name, alias, before)
        moves = [m for m in older if (m["from"], m["to"]) not in tracked] + moves
        for move in moves:
            print(history.line(move))
        if not moves:
            print(f"{name}@{alias}: no move recorded ({history.PREFIX}* tags)")
        return 0
    from taller_mlflow.promotion.gate import gate_for

    gate = gate_for(settings, client)
    try:
        outcome = autorollback.decide(
            client,
            name,
            alias,
            args.auto_rollback,
            args.evidence,
            lambda path, evidence: gate.rollback(path=path, evidence=evidence),
        )
    except autorollback.NotRolledBack as exc:
        print(f"auto-rollback declined: {exc}")
        return 0
    return finish(outcome)
