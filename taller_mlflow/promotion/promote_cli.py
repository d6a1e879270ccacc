"""Promote a registered version through the gate, roll back the last promotion, or export a
version's serving artifact.

    python -m taller_mlflow.promote VERSION [--force] [--model NAME] [--tolerance 0.01]
    python -m taller_mlflow.promote --rollback [--model NAME]
    python -m taller_mlflow.promote --export VERSION [--model NAME]
    python -m taller_mlflow.promote --history [--model NAME]

--history prints every move of the alias (promotion/history.py): time, from -> to, the path
(gate, force, rollback, auto-rollback) and its evidence; moves older than that trail are rebuilt
from the versions' promotion.* tags. --auto-rollback VERSION --evidence JSON
is the quality check's request (taller_mlflow/promotion/autorollback.py): it rolls back only a
live VERSION below its floor, once per version, never past the version a rollback restored.

The gate checks that the version's ONNX graph agrees with scikit-learn (and logs it with the
version as its serving artifact, the only thing the API serves it from), that the version then
loads in a fresh process without S3 keys exactly as the API will and predicts its input example,
and that its accuracy on its held-out evaluation rows is at least production's on the same rows
minus the tolerance. Then it moves the alias (MODEL_ALIAS, default production), or leaves it and
tags the version `promotion.rejected`. --force moves it anyway; when the graph was not verified,
it also prints a warning line: the API will not serve that version.

--export verifies and logs the serving artifact of a version registered before the gate did it,
and moves no alias; run again, it re-verifies and rewrites the same graph.

Exit codes: 0 the alias points at the version (moved, or already there), or the version was
exported; 3 the gate rejected the version, or its graph cannot be verified; 1 anything else
(unknown version, nothing to roll back, MLflow unreachable).
"""

import argparse
import sys

from mlflow.exceptions import MlflowException

from taller_mlflow.mlflow_setup import check_server
from taller_mlflow.promotion.agreement import agreement_line
from taller_mlflow.promotion.export import ExportRejected, export_version
from taller_mlflow.promotion.gate import gate_for
from taller_mlflow.promotion.history_cli import evidence_json, run_trail
from taller_mlflow.promotion.lease import PromotionBusy
from taller_mlflow.promotion.outcome import REJECTED_STATUS, Outcome, PromotionError
from taller_mlflow.settings import Settings, help_text
from taller_mlflow.stage import StageError

REJECTED_EXIT = 3
# What a promotion command reports in one line and exits 1 on.
FAILURES = (StageError, PromotionError, PromotionBusy, MlflowException)


def error_line(exc: Exception) -> str:
    if isinstance(exc, MlflowException):
        return f"error: mlflow: {' '.join(exc.message.split())[:300]}"
    return f"error: {exc}"


def version_number(text: str) -> str:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a version number (1, 2, ...)")
    return str(int(text))


def tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an accuracy difference in [0, 1]")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, epilog=help_text(), formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("version", nargs="?", type=version_number, help="the version to promote")
    parser.add_argument(
        "--rollback", action="store_true", help="point the alias back at the version it replaced"
    )
    parser.add_argument(
        "--force", action="store_true", help="promote even if checks fail (tagged as forced)"
    )
    parser.add_argument(
        "--export",
        type=version_number,
        metavar="VERSION",
        help="verify VERSION's ONNX graph and log its serving artifact; no alias moves",
    )
    parser.add_argument(
        "--history", action="store_true", help="print every move of the alias, oldest first"
    )
    parser.add_argument(
        "--auto-rollback",
        type=version_number,
        metavar="VERSION",
        help="the quality check's rollback of VERSION (with --evidence); bounded, see above",
    )
    parser.add_argument("--evidence", type=evidence_json, help="JSON: accuracy, floor, labels")
    parser.add_argument("--model", help="registered model name (env MODEL_NAME)")
    parser.add_argument(
        "--tolerance",
        type=tolerance,
        help="how much lower than production's the accuracy may be (env TALLER_PROMOTION_TOLERANCE)",
    )
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (env MLFLOW_TRACKING_URI)")
    args = parser.parse_args(argv)
    special = args.history or args.auto_rollback is not None
    if special:
        if args.version is not None or args.rollback or args.force or args.export is not None:
            parser.error("--history and --auto-rollback take no VERSION, --rollback or --export")
        if (
            (args.auto_rollback is None) != (args.evidence is None)
            or args.history
            and (args.auto_rollback is not None)
        ):
            parser.error("--auto-rollback VERSION needs --evidence JSON; --history neither")
        return args
    if args.export is not None:
        if args.version is not None or args.rollback or args.force or args.tolerance is not None:
            parser.error(
                "--export VERSION takes no other VERSION, --rollback, --force or --tolerance"
            )
        return args
    if args.rollback == (args.version is not None):
        parser.error("give either a VERSION to promote, --rollback or --export VERSION")
    if args.rollback and (args.force or args.tolerance is not None):
        parser.error("--force and --tolerance apply to a promotion, not to --rollback")
    return args


def report(outcome: Outcome, say=print) -> None:
    for check in outcome.checks:
        say(check.line())
    if outcome.status != "rolled back":
        say(agreement_line(outcome.agreement))


def settings_of(args: argparse.Namespace) -> Settings:
    overrides = {
        "model_name": args.model,
        "promotion_tolerance": args.tolerance,
        "mlflow_tracking_uri": args.tracking_uri,
    }
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def run_export(args: argparse.Namespace, say=print) -> str:
    """Export the version's serving artifact; the line to end with."""
    settings = settings_of(args)
    client = check_server(settings.mlflow_tracking_uri)
    name, version = settings.model_name, args.export
    say(f"exporting the serving artifact of {name} version {version} (no alias moves)")
    done = export_version(client, settings.mlflow_tracking_uri, name, version, say=say)
    return f"{name} version {version} verified: {done.line()}"


def run(args: argparse.Namespace, say=print) -> Outcome:
    settings = settings_of(args)
    client = check_server(settings.mlflow_tracking_uri)
    gate = gate_for(settings, client, say=say)
    if args.rollback:
        say(f"rolling back @{settings.model_alias} of {settings.model_name}")
        return gate.rollback()
    say(
        f"promoting {settings.model_name} version {args.version} to @{settings.model_alias} "
        f"(tolerance {settings.promotion_tolerance:g}{', forced' if args.force else ''})"
    )
    return gate.promote(args.version, force=args.force)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from taller_mlflow.mlflow_setup import quiet_mlflow

    quiet_mlflow()
    try:
        if args.export is not None:
            print(run_export(args))
            return 0
        if args.history or args.auto_rollback is not None:
            return run_trail(args, settings_of(args), finish)
        outcome = run(args)
    except ExportRejected as exc:
        print(f"error: {exc}", file=sys.stderr)
        return REJECTED_EXIT
    except FAILURES as exc:
        print(error_line(exc), file=sys.stderr)
        return 1
    except OSError as exc:  # an artifact download cut short
        print(f"error: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        return 1
    report(outcome)
    return finish(outcome)


def finish(outcome: Outcome) -> int:
    """The outcome's last line, on stderr when the gate rejected; the command's exit code."""
    if outcome.status == REJECTED_STATUS:
        print(f"error: {outcome.line()}", file=sys.stderr)
        return REJECTED_EXIT
    print(outcome.line())
    if outcome.warning:
        print(outcome.warning)
    return 0


if __name__ == "__main__":
    sys.exit(main())
