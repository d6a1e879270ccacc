"""The gate's comparison: the candidate and the live version scored on the candidate's held-out
rows. The slow part of a promotion (loading the live version, scoring both), so it runs before
the lease is taken."""

from taller_mlflow.promotion import checks as ck
from taller_mlflow.promotion.evaluation import EvalRowsMissing
from taller_mlflow.promotion.outcome import Outcome


def compare(loader, outcome: Outcome, rows, fitted, tolerance: float) -> ck.Check:
    """Score against `outcome.previous` (the live version when it was read; None: nothing live)
    and fill in both accuracies. Anything that cannot be measured fails closed."""
    if isinstance(rows, EvalRowsMissing):
        return ck.failed(ck.ACCURACY, f"not measured: no evaluation rows: {rows}")
    if fitted is None:
        return ck.failed(ck.ACCURACY, "not measured: the candidate does not load here")
    if outcome.candidate_accuracy is None:
        outcome.candidate_accuracy = ck.accuracy(fitted, rows)
    outcome.production_accuracy = None
    production = None
    if outcome.previous is not None:
        try:
            theirs = ck.accuracy(loader(outcome.name, outcome.previous), rows)
        except Exception as exc:  # noqa: BLE001 - no comparison, no promotion (fail closed)
            reason = f"cannot score production version {outcome.previous}: {ck.one_line(exc)}"
            return ck.failed(ck.ACCURACY, reason)
        outcome.production_accuracy = theirs
        production = (outcome.previous, theirs)
    return ck.comparison_check(outcome.candidate_accuracy, production, tolerance, len(rows))
