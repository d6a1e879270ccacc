"""The promotion gate: check a candidate version, then move the alias, or leave it and say why.

`Gate.promote(version)` runs the candidate's own checks first, in this order: its ONNX graph is
built, verified against scikit-learn and, when it agrees, logged with the version as its serving
artifact (taller_mlflow.promotion.serving_artifact); then a fresh process with no S3 keys loads
that artifact exactly as the API will and predicts the registered input example. Then, under the
model's promotion lease, it reads the version the alias points at, scores it on the same held-out
rows, compares, and either tags the candidate with its predecessor and moves the alias
(taller_mlflow.promotion.trail), or tags it `promotion.rejected`. The read and the move under one
lease make concurrent promotions queue, so every version's `promotion.previous_version` is the
version it really replaced, which is what `Gate.rollback()` (taller_mlflow.promotion.rollback)
moves the alias back to.

Training's automatic promotion, the notebook, `make run` and `python -m taller_mlflow.promote` all
come through here, so every version that goes live unforced has its verified serving artifact.
"""

import time
from datetime import UTC, datetime

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from taller_mlflow.mlflow_setup import is_transient
from taller_mlflow.promotion import checks as ck
from taller_mlflow.promotion import history, trail
from taller_mlflow.promotion import outcome as oc
from taller_mlflow.promotion.agreement import agreement_for, agreement_from_log
from taller_mlflow.promotion.aliases import alias_target, move_and_confirm, ready_version
from taller_mlflow.promotion.evaluation import EvalRowsMissing, load_eval_rows
from taller_mlflow.promotion.fitted import fitted_loader
from taller_mlflow.promotion.lease import Lease
from taller_mlflow.promotion.outcome import Outcome, PromotionError
from taller_mlflow.promotion.probe import run_probe, start_probe
from taller_mlflow.promotion.rollback import rollback


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Gate:
    def __init__(
        self,
        client,
        tracking_uri: str,
        name: str,
        alias: str = "production",
        tolerance: float = 0.01,
        *,
        probe=run_probe,
        loader=None,
        eval_rows=load_eval_rows,
        serving=ck.serving_check,
        agreement=agreement_for,
        lease=Lease,
        now=utc_now,
        say=print,
    ):
        self.client, self.tracking_uri, self.name, self.alias = client, tracking_uri, name, alias
        self.tolerance = tolerance
        self.probe, self.eval_rows, self.agreement = probe, eval_rows, agreement
        self.serving = serving
        # (name, version) -> promotion.fitted.Fitted: the pickle, for conversion and scoring
        self.loader = loader or fitted_loader(client, tracking_uri)
        self.lease = lease
        self.now, self.say = now, say

    def current(self) -> str | None:
        """The version the alias points at, None when the model or the alias does not exist."""
        return alias_target(self.client, self.name, self.alias)

    def candidate_checks(self, version: str) -> tuple[list[ck.Check], object, object]:
        """The checks that need no production version, in the order they run: the serving
        artifact first (built, verified, logged), then the fresh-process probe, which loads that
        artifact. The probe's process starts first, though, and boots while the rows and the
        model are fetched and the artifact is built: it asks for nothing before the artifact is
        logged. Returns (checks, eval rows or an EvalRowsMissing, fitted model or None)."""
        probe = start_probe(self.probe, self.tracking_uri)
        try:
            try:
                rows = self.eval_rows(self.client, self.name, version)
            except EvalRowsMissing as exc:
                rows = exc  # the graph is still verified on the CSV; the comparison fails closed
            try:
                fitted = self.loader(self.name, version)
            except Exception as exc:  # noqa: BLE001 - a model that cannot load fails the check
                fitted = None
                serving = ck.failed(ck.SERVING, f"cannot load here: {ck.one_line(exc)}")
            else:
                usable = None if isinstance(rows, EvalRowsMissing) else rows
                serving = self.serving(self.client, self.name, version, fitted, usable)
            probed = ck.fresh_process_checks(probe(self.name, version))
        finally:
            probe.close()
        return [serving, *probed], rows, fitted

    def compare(self, outcome: Outcome, rows, fitted) -> ck.Check:
        if isinstance(rows, EvalRowsMissing):
            return ck.failed(ck.ACCURACY, f"not measured: no evaluation rows: {rows}")
        if fitted is None:
            return ck.failed(ck.ACCURACY, "not measured: the candidate does not load here")
        outcome.candidate_accuracy = ck.accuracy(fitted, rows)
        production = None
        if outcome.previous is not None:
            try:
                theirs = ck.accuracy(self.loader(self.name, outcome.previous), rows)
            except Exception as exc:  # noqa: BLE001 - no comparison, no promotion (fail closed)
                reason = f"cannot score production version {outcome.previous}: {ck.one_line(exc)}"
                return ck.failed(ck.ACCURACY, reason)
            outcome.production_accuracy = theirs
            production = (outcome.previous, theirs)
        return ck.comparison_check(
            outcome.candidate_accuracy, production, self.tolerance, len(rows)
        )

    def promote(self, version: str, force: bool = False) -> Outcome:
        version = str(ready_version(self.client, self.name, version).version)
        outcome = Outcome(self.name, self.alias, version, oc.UNCHANGED, forced=force)
        outcome.agreement = self.agreement(self.name, version)
        if self.current() == version:
            return outcome
        checks, rows, fitted = self.candidate_checks(version)
        with self.lease(self.client, self.name, on_wait=self.say) as lease:
            outcome.previous = self.current()
            if outcome.previous == version:  # a concurrent promotion of this very version won
                return outcome
            outcome.checks = [*checks, self.compare(outcome, rows, fitted)]
            if outcome.failures() and not force:
                trail.record_rejection(self.client, outcome, self.now())
                return outcome
            if not lease.held():
                raise PromotionError(f"lost the promotion lease of {self.name}: try again")
            trail.record_promotion(self.client, outcome, self.now())
            move_and_confirm(self.client, self.name, version, self.alias)
            outcome.status = oc.PROMOTED
            history.record_move(
                self.client,
                self.name,
                self.alias,
                at=self.now(),
                previous=outcome.previous,
                version=version,
                path="force" if force else "gate",
                evidence=history.evidence_of(outcome),
            )
            outcome.warning = trail.unserved_warning(self.client, outcome)
        return outcome

    def rollback(self, **trail) -> Outcome:
        """`trail`: path and evidence for the alias's history (the auto-rollback's)."""
        return rollback(self.client, self.name, self.alias, self.lease, self.now, self.say, **trail)


def gate_for(settings, client, say=print) -> Gate:
    return Gate(
        client,
        settings.mlflow_tracking_uri,
        settings.model_name,
        settings.model_alias,
        settings.promotion_tolerance,
        agreement=agreement_from_log(settings.prediction_log_url),
        say=say,
    )


def promote_retrying(gate: Gate, version: str, timeout: float, sleep=time.sleep) -> Outcome:
    """Training's call: a registry briefly away (transient errors) is retried within `timeout`
    seconds. Safe, because a promotion is idempotent: once the alias has moved, it is UNCHANGED."""
    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential(multiplier=1, max=10),
        stop=stop_after_delay(timeout),
        reraise=True,
        sleep=sleep,
    )
    return retrying(gate.promote, version)
