"""The promotion gate: check a candidate version, then move the alias, or leave it and say why.

`Gate.promote(version)` runs the candidate's own checks (fresh-process load, input example, fast
path, accuracy on its evaluation rows) first, then, under the model's promotion lease, reads the
version the alias points at, scores it on the same rows, compares, and either tags the candidate
with its predecessor and moves the alias, or tags it `promotion.rejected`. The read and the move
under one lease make concurrent promotions queue, so every version's `promotion.previous_version`
is the version it really replaced, which is what `Gate.rollback()` moves the alias back to.

Training's automatic promotion and `python -m taller_mlflow.promote` both come through here.
"""

import time
from datetime import UTC, datetime

from mlflow.exceptions import MlflowException
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from taller_mlflow.mlflow_setup import is_transient
from taller_mlflow.promotion import checks as ck
from taller_mlflow.promotion import outcome as oc
from taller_mlflow.promotion.agreement import agreement_for, agreement_from_log
from taller_mlflow.promotion.aliases import move_alias
from taller_mlflow.promotion.evaluation import EvalRowsMissing, load_eval_rows
from taller_mlflow.promotion.lease import Lease
from taller_mlflow.promotion.outcome import Outcome, PromotionError
from taller_mlflow.promotion.probe import run_probe


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def mlflow_loader(client, tracking_uri: str):
    """(name, version) -> the scikit-learn model, fetched through the tracking server."""
    from taller_mlflow.serving.loader import MlflowLoader

    loader = MlflowLoader(client, tracking_uri)
    return lambda name, version: loader(name, version).sk_model


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
        fast_path=ck.fast_path_check,
        agreement=agreement_for,
        lease=Lease,
        now=utc_now,
        say=print,
    ):
        self.client, self.tracking_uri, self.name, self.alias = client, tracking_uri, name, alias
        self.tolerance = tolerance
        self.probe, self.eval_rows, self.agreement = probe, eval_rows, agreement
        self.fast_path = fast_path
        self.loader = loader or mlflow_loader(client, tracking_uri)
        self.lease = lease
        self.now, self.say = now, say

    # --- reading the registry ----------------------------------------------------------------
    def current(self) -> str | None:
        """The version the alias points at, None when the model or the alias does not exist."""
        try:
            aliases = self.client.get_registered_model(self.name).aliases or {}
        except MlflowException as exc:
            if str(exc.error_code) == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        version = aliases.get(self.alias)
        return None if version is None else str(version)

    def version(self, version: str):
        try:
            mv = self.client.get_model_version(self.name, str(version))
        except MlflowException as exc:
            raise PromotionError(f"{self.name} version {version}: {exc.message}") from exc
        if mv.status not in (None, "READY"):
            raise PromotionError(f"{self.name} version {version} is {mv.status}, not READY")
        return mv

    def _moved(self, version: str) -> None:
        move_alias(self.client, self.name, version, self.alias)
        if self.current() != version:
            raise PromotionError(f"@{self.alias} of {self.name} did not move to {version}")

    # --- promotion ---------------------------------------------------------------------------
    def candidate_checks(self, version: str) -> tuple[list[ck.Check], object, object]:
        """The checks that need no production version: (checks, eval rows, fitted model)."""
        checks = ck.fresh_process_checks(self.probe(self.tracking_uri, self.name, version))
        rows = model = None
        try:
            rows = self.eval_rows(self.client, self.name, version)
        except EvalRowsMissing as exc:
            checks.append(ck.failed(ck.FAST_PATH, f"no evaluation rows: {exc}"))
            return checks, None, None
        try:
            model = self.loader(self.name, version)
        except Exception as exc:  # noqa: BLE001 - a model that cannot load fails the check
            checks.append(ck.failed(ck.FAST_PATH, f"cannot load here: {ck.one_line(exc)}"))
            return checks, rows, None
        checks.append(self.fast_path(model, rows))
        return checks, rows, model

    def compare(self, outcome: Outcome, rows, model) -> ck.Check:
        if rows is None or model is None:
            return ck.failed(ck.ACCURACY, "not measured: no evaluation rows or no model")
        outcome.candidate_accuracy = ck.accuracy(model, rows)
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
        version = str(self.version(version).version)
        outcome = Outcome(self.name, self.alias, version, oc.UNCHANGED, forced=force)
        outcome.agreement = self.agreement(self.name, version)
        if self.current() == version:
            return outcome
        checks, rows, model = self.candidate_checks(version)
        with self.lease(self.client, self.name, on_wait=self.say) as lease:
            outcome.previous = self.current()
            if outcome.previous == version:  # a concurrent promotion of this very version won
                return outcome
            outcome.checks = [*checks, self.compare(outcome, rows, model)]
            if outcome.failures() and not force:
                self._reject(outcome)
                return outcome
            if not lease.held():
                raise PromotionError(f"lost the promotion lease of {self.name}: try again")
            self._promote(outcome)
        return outcome

    def _reject(self, outcome: Outcome) -> None:
        outcome.status = oc.REJECTED_STATUS
        reason = f"{self.now()}: {outcome.reason()}"
        self.client.set_model_version_tag(self.name, outcome.version, oc.REJECTED, oc.clip(reason))

    def _promote(self, outcome: Outcome) -> None:
        name, version = self.name, outcome.version
        tags = {
            oc.PROMOTED_AT: self.now(),
            oc.FORCED: str(outcome.forced).lower(),
            oc.EVALUATION: next(c.detail for c in outcome.checks if c.name == ck.ACCURACY),
        }
        if outcome.previous is not None:
            tags[oc.PREVIOUS] = outcome.previous
        if outcome.forced and outcome.failures():
            tags[oc.FORCED_OVER] = outcome.reason()
        existing = dict(self.client.get_model_version(name, version).tags or {})
        # Stale trail from an earlier life of this version would mislead a later rollback.
        stale = [oc.REJECTED, oc.FORCED_OVER, oc.ROLLED_BACK] + [oc.PREVIOUS] * (
            outcome.previous is None
        )
        for key in stale:
            if key in existing and key not in tags:
                self.client.delete_model_version_tag(name, version, key)
        for key, value in tags.items():  # before the move: the trail is there once it is live
            self.client.set_model_version_tag(name, version, key, oc.clip(value))
        self._moved(version)
        outcome.status = oc.PROMOTED

    # --- rollback ----------------------------------------------------------------------------
    def rollback(self) -> Outcome:
        with self.lease(self.client, self.name, on_wait=self.say):
            current = self.current()
            if current is None:
                raise PromotionError(f"{self.name} has no @{self.alias}: nothing to roll back")
            tags = dict(self.version(current).tags or {})
            previous = tags.get(oc.PREVIOUS)
            if not previous:
                raise PromotionError(
                    f"{self.name} version {current} (@{self.alias}) records no previous version "
                    f"({oc.PREVIOUS}): nothing to roll back to"
                )
            self.version(previous)
            self._moved(previous)
            note = f"{self.now()}: @{self.alias} moved back to version {previous}"
            self.client.set_model_version_tag(self.name, current, oc.ROLLED_BACK, note)
        return Outcome(self.name, self.alias, previous, oc.ROLLED_BACK_STATUS, previous=current)


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
