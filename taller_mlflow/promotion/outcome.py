"""What a promotion or rollback decided, the tags it leaves on versions, and its one-line summary."""

from dataclasses import dataclass, field

from taller_mlflow.promotion.checks import Check

# Tags on model versions: the trail a promotion leaves, and what a rollback follows.
PREVIOUS = "promotion.previous_version"  # on the new version: the one it replaced
PROMOTED_AT = "promotion.promoted_at"
FORCED = "promotion.forced"  # "true" when the promotion was run with --force
FORCED_OVER = "promotion.forced_over"  # the failed checks a forced promotion ignored
EVALUATION = "promotion.evaluation"  # the accuracy comparison the decision rested on
REJECTED = "promotion.rejected"  # on a rejected candidate: why
ROLLED_BACK = "promotion.rolled_back"  # on the version a rollback left: when, and to which

PROMOTED, REJECTED_STATUS, UNCHANGED, ROLLED_BACK_STATUS = (
    "promoted",
    "rejected",
    "unchanged",
    "rolled back",
)
TAG_LIMIT = 4000  # MLflow caps model version tag values at 5000 characters


class PromotionError(RuntimeError):
    """A promotion or rollback that cannot even be decided: unknown version, nothing to roll
    back to, the registry refusing. The message is the one line the command prints."""


@dataclass
class Outcome:
    name: str
    alias: str
    version: str
    status: str
    previous: str | None = None
    checks: list[Check] = field(default_factory=list)
    forced: bool = False
    candidate_accuracy: float | None = None
    production_accuracy: float | None = None
    agreement: float | None = None
    warning: str | None = None  # e.g. forced live, but the API will not serve it: why, and what

    @property
    def live(self) -> bool:
        """True when `version` is what the alias points at now."""
        return self.status in (PROMOTED, UNCHANGED, ROLLED_BACK_STATUS)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def reason(self) -> str:
        return "; ".join(c.reason() for c in self.failures())

    def line(self) -> str:
        who = f"{self.name} version {self.version}"
        if self.status == UNCHANGED:
            return f"{who} is already @{self.alias}; nothing to do"
        if self.status == ROLLED_BACK_STATUS:
            return f"@{self.alias} rolled back from version {self.previous} to {self.version}"
        if self.status == REJECTED_STATUS:
            stays = f"version {self.previous}" if self.previous else "no version"
            return f"{who} rejected (@{self.alias} stays on {stays}): {self.reason()}"
        line = f"{who} is now @{self.alias} (was {self.previous or 'unset'})"
        if self.forced and self.failures():
            line += f", forced over: {self.reason()}"
        return line


def clip(text: str) -> str:
    return text if len(text) <= TAG_LIMIT else text[: TAG_LIMIT - 3] + "..."
