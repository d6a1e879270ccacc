"""Protocol errors in each protocol's own shape: MLflow's `{"error_code", "message"}`, V2's
`{"error"}`. Failures of the shared parts (body limits, model lookup, column checks) are
translated here, so a client of either protocol sees the errors its own clients expect."""

from collections.abc import Iterator
from contextlib import contextmanager

from app.columns import ColumnError, TooManyRows
from app.errors import ApiError, json_response
from taller_mlflow.serving import RegistryUnavailable

CODES = {
    400: "BAD_REQUEST",
    404: "RESOURCE_DOES_NOT_EXIST",
    413: "BAD_REQUEST",
    415: "BAD_REQUEST",
    503: "TEMPORARILY_UNAVAILABLE",
}


class ProtocolError(Exception):
    def __init__(self, status, message, style, headers=None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.style, self.headers = status, message, style, headers
        self.code = code or CODES.get(status, "BAD_REQUEST")


async def protocol_error_response(_request, exc: ProtocolError):
    if exc.style == "v2":
        body = {"error": exc.message}
    else:
        body = {"error_code": exc.code, "message": exc.message}
    return json_response(body, exc.status, exc.headers)


@contextmanager
def protocol_errors(style: str) -> Iterator[None]:
    """Raise every expected failure inside as a ProtocolError in `style` ("mlflow" or "v2")."""
    try:
        yield
    except ColumnError as exc:  # MLflow's code when a column does not fit the model's schema
        raise ProtocolError(400, str(exc), style, code="INVALID_PARAMETER_VALUE") from exc
    except TooManyRows as exc:
        raise ProtocolError(413, str(exc), style) from exc
    except RegistryUnavailable as exc:
        raise ProtocolError(503, f"model registry unavailable: {exc}", style) from exc
    except ApiError as exc:  # body limits and model lookup: 400, 404, 413, 422, 503
        status = 400 if exc.status == 422 else exc.status
        raise ProtocolError(status, exc.detail, style, exc.headers) from exc
