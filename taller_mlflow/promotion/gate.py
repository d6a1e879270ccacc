"""The promotion gate: check a candidate version, then move the alias, or leave it and say why.

`Gate.promote(version)` runs the candidate's own checks first, in this order: its ONNX graph is
built, verified against scikit-learn and, when it agrees, logged with the version as its serving
artifact (taller_mlflow.promotion.serving_artifact); then a fresh process with no S3 keys loads
that artifact exactly as the API will and predicts the registered input example. Then it reads
the version the alias points at and scores it on the same held-out rows (taller_mlflow.promotion.
comparison). Only then does it take the model's promotion lease, and under it: read the alias again;
if it moved meanwhile, release the lease and compare with the new live version (up to ATTEMPTS
times, then PromotionBusy); if not, either tag the candidate `promotion.rejected`, or tag it with
its predecessor and move the alias, each write fenced (taller_mlflow.promotion.fence: the lease
still ours, the alias still where it was). So every version's `promotion.previous_version` is the
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
from taller_mlflow.promotion.aliases import alias_target, ready_version
from taller_mlflow.promotion.comparison import compare
from taller_mlflow.promotion.evaluation import EvalRowsMissing, load_eval_rows
from taller_mlflow.promotion.fence import fenced_promotion
from taller_mlflow.promotion.fitted import fitted_loader
from taller_mlflow.promotion.lease import Lease, PromotionBusy
from taller_mlflow.promotion.outcome import Outcome
from taller_mlflow.promotion.pg_lease import lease_factory
from taller_mlflow.promotion.probe import run_probe, start_probe
from taller_mlflow.promotion.rollback import rollback

ATTEMPTS = 3  # comparisons against an alias that keeps moving, before giving up


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

    def promote(self, version: str, force: bool = False) -> Outcome:
        version = str(ready_version(self.client, self.name, version).version)
        outcome = Outcome(self.name, self.alias, version, oc.UNCHANGED, forced=force)
        outcome.agreement = self.agreement(self.name, version)
        if self.current() == version:
            return outcome
        checks, rows, fitted = self.candidate_checks(version)
        for _ in range(ATTEMPTS):
            outcome.previous = self.current()
            if outcome.previous == version:  # a concurrent promotion of this very version won
                return outcome
            # The slow part, outside the lease: load the live version and score both.
            compared = compare(self.loader, outcome, rows, fitted, self.tolerance)
            outcome.checks = [*checks, compared]
            with self.lease(self.client, self.name, on_wait=self.say) as lease:
                live = self.current()
                if live == outcome.previous:
                    return self.decide(outcome, lease)
            self.say(
                f"@{self.alias} moved to {live} while {outcome.previous} was scored: comparing again"
            )
        raise PromotionBusy(
            f"@{self.alias} of {self.name} moved {ATTEMPTS} times while version {version} was "
            "compared with it: nothing moved; try again"
        )

    def decide(self, outcome: Outcome, lease) -> Outcome:
        """Under the lease, the alias still where it was when scored: reject, or move it."""
        if outcome.failures() and not outcome.forced:
            trail.record_rejection(self.client, outcome, self.now())
            return outcome
        fenced_promotion(self.client, lease, outcome, self.now())
        outcome.status = oc.PROMOTED
        history.record_move(
            self.client,
            self.name,
            self.alias,
            at=self.now(),
            previous=outcome.previous,
            version=outcome.version,
            path="force" if outcome.forced else "gate",
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
        lease=lease_factory(settings.promotion_lock_url),
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
