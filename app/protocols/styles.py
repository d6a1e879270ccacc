"""Each protocol's one error style, applied by its routes: the data plane's domain errors
(taller_mlflow/serving/problems.py) and the codecs' own errors become that protocol's answer.

    /predict            {"detail": ..., "available_models"?}    (the seed's shape)
    MLflow scoring      {"error_code": ..., "message": ...}     (as `mlflow models serve`)
    Open Inference V2   {"error": ...}                          (as KServe, Triton, MLServer)

A protocol's router is built with `APIRouter(route_class=styled_route(style))`: one wrapper per
protocol catches every expected error its endpoints raise, instead of a try/except per endpoint.
"""

from collections.abc import Callable
from dataclasses import dataclass

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from app.errors import ApiError, error_response, json_response
from taller_mlflow.serving.problems import (
    InvalidInput,
    InvalidReference,
    ModelNotFound,
    RegistryUnavailable,
    ServingError,
    TooManyRows,
    Unavailable,
)

MLFLOW_CODES = {
    400: "BAD_REQUEST",
    404: "RESOURCE_DOES_NOT_EXIST",
    413: "BAD_REQUEST",
    415: "BAD_REQUEST",
    503: "TEMPORARILY_UNAVAILABLE",
}


class ProtocolError(Exception):
    """A request a protocol's codec cannot decode; `code` is MLflow's error code when it has one."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass(frozen=True)
class Failure:
    """A failure, before it is put in a protocol's shape."""

    status: int
    message: str
    code: str | None = None
    headers: dict | None = None
    served: list[str] | None = None
    extra: dict | None = None  # /predict's field errors


def failure_of(exc: Exception, reference_status: int = 400) -> Failure | None:
    """The status and message of an expected error; None for anything else (a bug: 500)."""
    if isinstance(exc, ProtocolError):
        return Failure(exc.status, exc.message, exc.code)
    if isinstance(exc, ApiError):  # body limits
        return Failure(exc.status, exc.detail, headers=exc.headers, extra=exc.extra)
    if isinstance(exc, ModelNotFound):
        return Failure(404, str(exc), served=exc.served)
    if isinstance(exc, InvalidReference):
        return Failure(reference_status, str(exc))
    if isinstance(exc, InvalidInput):  # MLflow's code when a column does not fit the schema
        return Failure(400, str(exc), "INVALID_PARAMETER_VALUE")
    if isinstance(exc, TooManyRows):
        return Failure(413, str(exc))
    if isinstance(exc, Unavailable):
        message = str(exc)
        if isinstance(exc, RegistryUnavailable):
            message = f"model registry unavailable: {message}"
        retry = exc.retry_after
        headers = {"Retry-After": str(max(1, round(retry)))} if retry else None
        return Failure(503, message, headers=headers)
    return None


def predict_style(f: Failure, available: list[str]) -> Response:
    extra = dict(f.extra or {})
    if f.status == 404:
        extra["available_models"] = available
    return error_response(f.status, f.message, f.headers, **extra)


def mlflow_style(f: Failure, _available: list[str]) -> Response:
    code = f.code or MLFLOW_CODES.get(f.status, "BAD_REQUEST")
    return json_response({"error_code": code, "message": f.message}, f.status, f.headers)


def v2_style(f: Failure, _available: list[str]) -> Response:
    return json_response({"error": f.message}, f.status, f.headers)


def styled_route(
    encode: Callable[[Failure, list[str]], Response], reference_status: int = 400
) -> type[APIRoute]:
    """An APIRoute whose endpoint's expected errors are answered in `encode`'s shape."""

    class StyledRoute(APIRoute):
        def get_route_handler(self):
            handler = super().get_route_handler()

            async def styled(request: Request) -> Response:
                try:
                    return await handler(request)
                except (ServingError, ProtocolError, ApiError) as exc:
                    failure = failure_of(exc, reference_status)
                    if failure is None:
                        raise
                    served = failure.served or request.app.state.registry.model_names()
                    return encode(failure, served)

            return styled

    return StyledRoute
