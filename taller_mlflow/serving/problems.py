"""What can go wrong when serving, as the domain sees it. The data plane raises only these, and
each protocol turns them into its own error style (app/protocols/).

    ModelNotFound        no such served model, alias or version          -> 404
    InvalidInput         a column or a row that cannot be scored         -> 400 / 422
    InvalidReference     a model reference that cannot be parsed         -> 400 / 422
    TooManyRows          more rows than the request cap                  -> 413
    Unavailable          nothing to answer with right now                -> 503
      RegistryUnavailable  MLflow is away (or refused us) and nothing usable is cached
      ModelLoadFailed      the version exists but cannot be served (no verified artifact, a
                           graph that does not match its tag...), retried with backoff
      Overloaded           the worker is at its concurrency limit
"""

import time
from dataclasses import dataclass


class ServingError(Exception):
    """Base of the domain errors; str() is the one line a client is told."""


class ModelNotFound(ServingError, LookupError):
    """No such registered model, alias or version, or a model this API does not serve."""

    def __init__(self, message: str, served: list[str] | None = None):
        super().__init__(message)
        self.served = served


class InvalidInput(ServingError, ValueError):
    """The input cannot be scored; the message names the column and, where there is one, the row."""

    def __init__(self, column: str, message: str, row: int | None = None):
        where = f"column {column!r}" + (f", row {row}" if row is not None else "")
        super().__init__(f"{where}: {message}")
        self.column, self.row = column, row


class InvalidReference(ServingError, ValueError):
    """A model reference that is not NAME, NAME@ALIAS or NAME/VERSION."""


class TooManyRows(ServingError, ValueError):
    """More rows than the configured cap."""


class Unavailable(ServingError, RuntimeError):
    """Nothing to answer with now; `retry_after` (seconds) when a time is known."""

    retry_after: float | None = None


class RegistryUnavailable(Unavailable):
    """The tracking server cannot be reached, failed or refused us, and nothing usable is cached."""


class Overloaded(Unavailable):
    """The worker is scoring as many requests as it may at once."""

    retry_after = 1.0


@dataclass(frozen=True)
class LoadFailure:
    name: str
    version: str
    reason: str
    failed_at: float  # wall clock, for people
    attempts: int
    retry_in: float  # seconds after failed_at
    retry_at: float  # monotonic clock, for the backoff

    def describe(self) -> dict:
        return {
            "reason": self.reason,
            "failed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.failed_at)),
            "attempts": self.attempts,
            "retry_in_seconds": round(self.retry_in, 1),
        }


class ModelLoadFailed(Unavailable):
    """The version exists but cannot be served; `failure` says why and when it is retried."""

    def __init__(self, failure: LoadFailure):
        super().__init__(
            f"model {failure.name}/{failure.version} cannot be loaded: {failure.reason}"
            f" (attempt {failure.attempts}, next retry in {failure.retry_in:.0f} s)"
        )
        self.failure = failure
        self.retry_after = max(1.0, failure.retry_in)
