"""Every error the API returns is JSON with a `detail` line: 4xx for what the client can fix."""

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

log = logging.getLogger("app")


class ApiError(Exception):
    def __init__(self, status: int, detail: str, headers: dict | None = None, **extra):
        self.status, self.detail, self.headers, self.extra = status, detail, headers, extra


def json_response(content, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        orjson.dumps(content), status_code=status, media_type="application/json", headers=headers
    )


def error_response(status: int, detail: str, headers: dict | None = None, **extra) -> Response:
    body = {"detail": detail, **{k: v for k, v in extra.items() if v is not None}}
    return json_response(body, status, headers)


def field_errors_detail(errors: list[dict]) -> str:
    return "; ".join(f"{e['field']}: {e['message']}" for e in errors)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError):
        return error_response(exc.status, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException):
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError):
        errors = [
            {"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()
        ]
        return error_response(422, field_errors_detail(errors), errors=errors)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal error")
