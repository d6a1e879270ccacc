"""Model references (`name`, `name@alias`, `name/version`) and their resolution in the registry."""

import re
from dataclasses import dataclass

from mlflow.exceptions import MlflowException

from taller_mlflow.serving.pages import all_pages

# Quotes are refused because the name goes into MLflow filter strings.
_REF = re.compile(r"^(?P<name>[^@/'\"]+?)(?:@(?P<alias>[^@/'\"]+)|/(?P<version>\d+))?$")

# The one table of MLflow error codes that mean "no such model, alias or version": the server's
# answers, and the client's own refusal of a malformed name. Every other error is the registry's.
NOT_FOUND_CODES = frozenset(
    {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND", "BAD_REQUEST"}
)


class ModelNotFound(LookupError):
    """No such registered model, alias or version."""


class RegistryUnavailable(RuntimeError):
    """The tracking server cannot be reached, or failed, and nothing usable is cached."""


def is_not_found(exc: Exception) -> bool:
    return isinstance(exc, MlflowException) and exc.error_code in NOT_FOUND_CODES


@dataclass(frozen=True)
class ModelRef:
    name: str
    alias: str | None = None
    version: str | None = None
    implicit_alias: bool = False  # a bare name: the default alias, else the latest version

    @classmethod
    def parse(cls, text: str, default_alias: str) -> "ModelRef":
        match = _REF.match(text.strip())
        if not match:
            raise ValueError(f"model must be NAME, NAME@ALIAS or NAME/VERSION, got {text!r}")
        name, alias, version = match["name"], match["alias"], match["version"]
        if not alias and not version:
            return cls(name, default_alias, None, implicit_alias=True)
        return cls(name, alias, version)

    def __str__(self) -> str:
        return f"{self.name}/{self.version}" if self.version else f"{self.name}@{self.alias}"


@dataclass(frozen=True)
class Resolution:
    name: str
    version: str
    via: str  # "alias", "version" or "latest" (no such alias: fell back to the newest version)


class Resolver:
    """Asks the registry which version a reference means; maps MLflow's errors to ours."""

    def __init__(self, client, where: str):
        self.client, self.where = client, where

    def resolve(self, ref: ModelRef) -> Resolution:
        try:
            return self._resolve(ref)
        except MlflowException as exc:
            if is_not_found(exc):
                raise ModelNotFound(f"model {ref} not found") from exc
            raise RegistryUnavailable(f"MLflow at {self.where}: {exc.message}") from exc

    def _resolve(self, ref: ModelRef) -> Resolution:
        if ref.version:
            self.client.get_model_version(ref.name, ref.version)
            return Resolution(ref.name, ref.version, "version")
        try:
            mv = self.client.get_model_version_by_alias(ref.name, ref.alias)
            return Resolution(ref.name, str(mv.version), "alias")
        except MlflowException as exc:
            if not (ref.implicit_alias and is_not_found(exc)):
                raise
        versions = all_pages(self.client.search_model_versions, filter_string=f"name='{ref.name}'")
        if not versions:
            raise ModelNotFound(f"model {ref.name} not found")
        latest = max(versions, key=lambda v: int(v.version))
        return Resolution(ref.name, str(latest.version), "latest")
