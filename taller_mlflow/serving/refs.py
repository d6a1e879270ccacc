"""Model references (`name`, `name@alias`, `name/version`) and their resolution in the registry."""

import re
from dataclasses import dataclass

from taller_mlflow.serving.mlflow_rest import MlflowRest
from taller_mlflow.serving.problems import ModelNotFound

# Quotes are refused because the name goes into MLflow filter strings.
_REF = re.compile(r"^(?P<name>[^@/'\"]+?)(?:@(?P<alias>[^@/'\"]+)|/(?P<version>\d+))?$")


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
    """Asks the registry which version a reference means."""

    def __init__(self, rest: MlflowRest):
        self.rest = rest

    def resolve(self, ref: ModelRef) -> Resolution:
        try:
            return self._resolve(ref)
        except ModelNotFound as exc:
            raise ModelNotFound(f"model {ref} not found") from exc

    def _resolve(self, ref: ModelRef) -> Resolution:
        if ref.version:
            self.rest.get_model_version(ref.name, ref.version)
            return Resolution(ref.name, ref.version, "version")
        try:
            mv = self.rest.get_model_version_by_alias(ref.name, ref.alias)
            return Resolution(ref.name, mv.version, "alias")
        except ModelNotFound:
            if not ref.implicit_alias:
                raise
        versions = self.rest.search_model_versions(ref.name)
        if not versions:
            raise ModelNotFound(f"model {ref.name} not found")
        latest = max(versions, key=lambda v: int(v.version))
        return Resolution(ref.name, latest.version, "latest")
