"""The OpenAPI document: /predict takes one penguin or a list, with real penguins as examples."""

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.schemas import ErrorBody, Penguin, penguin_adapter
from taller_mlflow.penguins import EXAMPLE_PENGUIN, FEATURES

ERRORS = {
    400: {"model": ErrorBody, "description": "Body is not valid JSON"},
    404: {"model": ErrorBody, "description": "Unknown model or version"},
    413: {"model": ErrorBody, "description": "Body or batch too large"},
    422: {"model": ErrorBody, "description": "Invalid penguin: the message names the field"},
    503: {
        "model": ErrorBody,
        "description": "Registry unreachable and no cached model, or the version cannot be loaded",
    },
}

GENTOO_EXAMPLE = {
    **EXAMPLE_PENGUIN,
    "island": "Biscoe",
    "culmen_length_mm": 46.1,
    "culmen_depth_mm": 13.2,
    "flipper_length_mm": 211,
    "body_mass_g": 4500,
    "sex": "FEMALE",
}

PREDICT_BODY_SCHEMA = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/Penguin"},
                    {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Penguin"},
                        "minItems": 1,
                    },
                ]
            },
            "examples": {
                "one penguin": {"value": EXAMPLE_PENGUIN},
                "a batch": {"value": [EXAMPLE_PENGUIN, GENTOO_EXAMPLE]},
            },
        }
    },
}


def install_openapi(app: FastAPI) -> None:
    """The body of /predict is read by hand (streamed, capped), so its schema is added here."""

    def openapi():
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        ref = "#/components/schemas/{model}"
        components.update(
            penguin_adapter.json_schema(ref_template=ref, mode="validation").get("$defs", {})
        )
        components["Penguin"] = Penguin.model_json_schema(ref_template=ref)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi


def _columns_of(penguins: list[dict]) -> dict[str, list]:
    return {k: [p[k] for p in penguins] for k in FEATURES}


_PENGUINS = [
    {k: v for k, v in EXAMPLE_PENGUIN.items() if k != "model"},
    {k: v for k, v in GENTOO_EXAMPLE.items() if k != "model"},
]
_CSV = "\n".join([",".join(FEATURES)] + [",".join(str(p[k]) for k in FEATURES) for p in _PENGUINS])

SCORING_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "object"},
            "examples": {
                "dataframe_split (columnar, fastest)": {
                    "value": {
                        "dataframe_split": {
                            "columns": FEATURES,
                            "data": [[p[k] for k in FEATURES] for p in _PENGUINS],
                        }
                    }
                },
                "dataframe_records": {"value": {"dataframe_records": _PENGUINS}},
                "instances": {"value": {"instances": _PENGUINS}},
                "inputs (columns)": {"value": {"inputs": _columns_of(_PENGUINS)}},
            },
        },
        "text/csv": {"schema": {"type": "string"}, "example": _CSV},
    },
}

V2_DATATYPES = {"island": "BYTES", "sex": "BYTES"}

V2_INFER_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "object"},
            "example": {
                "id": "two-penguins",
                "inputs": [
                    {
                        "name": k,
                        "shape": [len(_PENGUINS), 1],
                        "datatype": V2_DATATYPES.get(k, "FP64"),
                        "data": [p[k] for p in _PENGUINS],
                    }
                    for k in FEATURES
                ],
            },
        }
    },
}
