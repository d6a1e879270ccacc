"""Request and response shapes of the API, with the validation rules for a penguin."""

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from taller_mlflow.penguins import EXAMPLE_PENGUIN, ISLANDS, SEXES, UPPER_BOUNDS


def _upper(value):
    return value.strip().upper() if isinstance(value, str) else value


def _measure(upper: float, unit: str):
    return Annotated[
        float,
        Field(gt=0, le=upper, allow_inf_nan=False, description=f"in {unit}, 0 < x <= {upper}"),
    ]


class Penguin(BaseModel):
    """One penguin's measurements. `model` picks the registered model (default: modelo_penguins)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_PENGUIN]})

    island: Literal[ISLANDS]
    culmen_length_mm: _measure(UPPER_BOUNDS["culmen_length_mm"], "mm")
    culmen_depth_mm: _measure(UPPER_BOUNDS["culmen_depth_mm"], "mm")
    flipper_length_mm: _measure(UPPER_BOUNDS["flipper_length_mm"], "mm")
    body_mass_g: _measure(UPPER_BOUNDS["body_mass_g"], "g")
    sex: Annotated[Literal[SEXES], BeforeValidator(_upper)] = Field(
        description="MALE or FEMALE, any case"
    )
    model: str | None = Field(
        None,
        max_length=200,
        pattern=r"^[A-Za-z0-9_.\- ]+(@[A-Za-z0-9_\-]+|/[0-9]+)?$",
        description="NAME (its `production` alias, else its latest version), NAME@ALIAS or NAME/VERSION",
    )


PredictBody = Penguin | list[Penguin]
penguin_adapter = TypeAdapter(Penguin)
batch_adapter = TypeAdapter(list[Penguin])


class Prediction(BaseModel):
    prediction: str
    model: str
    version: str
    resolved_by: Literal["alias", "version", "latest"]
    alias: str | None
    probabilities: dict[str, float]
    note: str | None = None


class LoadError(BaseModel):
    """Why the API could not load this version, and when it tries again."""

    reason: str
    failed_at: str
    attempts: int
    retry_in_seconds: float


class ShadowAgreement(BaseModel):
    """This version scored as `challenger` beside production, off the response path (this API
    process's counts since it started)."""

    rows: int
    agreed: int
    agreement_rate: float | None
    against_versions: list[str] = Field(description="production versions it was compared with")


class ModelVersionInfo(BaseModel):
    version: str
    aliases: list[str]
    stage: str | None
    created_at: str
    run_id: str | None
    test_accuracy: float | None
    verified: bool = Field(
        description="the promotion gate verified its ONNX graph (tags serving.format and "
        "serving.sha256): only such versions are served"
    )
    serving_sha256: str | None = Field(None, description="sha256 of its verified graph")
    loaded: bool
    inference: str | None = Field(None, description="onnxruntime once loaded")
    load_error: LoadError | None = None
    # str, not a Literal: a tag edited by hand must not turn the listing into a 500.
    drift_status: str | None = Field(
        None, description="the last drift check's status, ok, warn or drift (version tag)"
    )
    drift_checked_at: str | None = Field(None, description="when it was checked, UTC ISO 8601")
    shadow: ShadowAgreement | None = None


class ModelInfo(BaseModel):
    name: str
    aliases: dict[str, str]
    serving: dict[str, str] = Field(
        default_factory=dict,
        description="alias -> version this API serves; lags `aliases` while a new version "
        "fails to load",
    )
    versions: list[ModelVersionInfo]


class ModelList(BaseModel):
    modelos_disponibles: list[str]
    modelos: list[ModelInfo]


class ErrorBody(BaseModel):
    detail: str
    errors: list[dict] | None = None
    available_models: list[str] | None = None


def describe_errors(exc: ValidationError, prefix: str = "") -> list[dict]:
    """Pydantic errors as [{"field": "island", "message": "..."}], one per problem."""
    out = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        out.append({"field": f"{prefix}{loc}", "message": message})
    return out
