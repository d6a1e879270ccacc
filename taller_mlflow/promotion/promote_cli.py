"""Promote a registered version through the gate, or roll back the last promotion.

    python -m taller_mlflow.promote VERSION [--force] [--model NAME] [--tolerance 0.01]
    python -m taller_mlflow.promote --rollback [--model NAME]

The gate checks that the version loads in a fresh process without S3 keys, predicts its input
example, that its ONNX fast path agrees with scikit-learn, and that its accuracy on its held-out
evaluation rows is at least production's on the same rows minus the tolerance. Then it moves the
alias (MODEL_ALIAS, default production), or leaves it and tags the version `promotion.rejected`.

Exit codes: 0 the alias points at the version (moved, or already there); 3 the gate rejected the
version; 1 anything else (unknown version, nothing to roll back, MLflow unreachable).
"""

import argparse
import sys

from mlflow.exceptions import MlflowException

from taller_mlflow.mlflow_setup import check_server
from taller_mlflow.promotion.agreement import agreement_line
from taller_mlflow.promotion.gate import gate_for
from taller_mlflow.promotion.lease import PromotionBusy
from taller_mlflow.promotion.outcome import REJECTED_STATUS, Outcome, PromotionError
from taller_mlflow.settings import Settings, help_text
from taller_mlflow.stage import StageError

REJECTED_EXIT = 3


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
    parser.add_argument("--model", help="registered model name (env MODEL_NAME)")
    parser.add_argument(
        "--tolerance",
        type=tolerance,
        help="how much lower than production's the accuracy may be (env TALLER_PROMOTION_TOLERANCE)",
    )
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (env MLFLOW_TRACKING_URI)")
    args = parser.parse_args(argv)
    if args.rollback == (args.version is not None):
        parser.error("give either a VERSION to promote or --rollback")
    if args.rollback and (args.force or args.tolerance is not None):
        parser.error("--force and --tolerance apply to a promotion, not to --rollback")
    return args


def report(outcome: Outcome, say=print) -> None:
    for check in outcome.checks:
        say(check.line())
    if outcome.status != "rolled back":
        say(agreement_line(outcome.agreement))


def run(args: argparse.Namespace, say=print) -> Outcome:
    overrides = {
        "model_name": args.model,
        "promotion_tolerance": args.tolerance,
        "mlflow_tracking_uri": args.tracking_uri,
    }
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
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
        outcome = run(args)
    except (StageError, PromotionError, PromotionBusy) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except MlflowException as exc:
        print(f"error: mlflow: {' '.join(exc.message.split())[:300]}", file=sys.stderr)
        return 1
    report(outcome)
    if outcome.status == REJECTED_STATUS:
        print(f"error: {outcome.line()}", file=sys.stderr)
        return REJECTED_EXIT
    print(outcome.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
