"""Read and validate a /predict body within its limits, without buffering more than the cap.

The Content-Length is checked before anything is read; a chunked body is read chunk by chunk
and abandoned as soon as it passes the cap, so an oversized body costs at most one chunk more.
"""

import orjson
from pydantic import ValidationError
from starlette.requests import Request

from app.errors import ApiError, field_errors_detail
from app.schemas import Penguin, batch_adapter, describe_errors, penguin_adapter


async def read_capped_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, f"Content-Length is not a byte count: {declared[:40]!r}")
        if int(declared) > limit:
            raise ApiError(413, f"body of {declared} bytes is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_predict_body(raw: bytes, max_batch: int) -> tuple[list[Penguin], bool]:
    """The penguins in the body and whether it was a list (the answer keeps that shape)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from exc
    try:
        if isinstance(data, list):
            if not data:
                raise ApiError(422, "body: a batch needs at least one penguin")
            if len(data) > max_batch:
                raise ApiError(413, f"batch of {len(data)} penguins exceeds {max_batch}")
            return batch_adapter.validate_python(data), True
        return [penguin_adapter.validate_python(data)], False
    except ValidationError as exc:
        errors = describe_errors(exc)
        raise ApiError(422, field_errors_detail(errors), errors=errors) from exc
