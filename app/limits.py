"""Read a request body within its cap, without buffering more than the cap.

The Content-Length is checked before anything is read; a chunked body is read chunk by chunk
and abandoned as soon as it passes the cap, so an oversized body costs at most one chunk more.
"""

from starlette.requests import Request

from app.errors import ApiError


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
