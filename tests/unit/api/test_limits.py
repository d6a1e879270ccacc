"""Every body limit: declared size, streamed size, batch size, empty batch, broken JSON."""

import asyncio

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from app.errors import ApiError
from app.factory import create_app
from app.limits import read_capped_body
from tests.support import ADELIE
from tests.unit.serving_fixtures import unit_settings


@pytest.fixture
def api(make_registry):
    settings = unit_settings(max_body_bytes=10_000, max_batch_size=5)
    with TestClient(create_app(settings, make_registry(settings))) as http:
        yield http


def request_with(chunks, headers=()) -> tuple[Request, list]:
    """A Request whose body arrives in `chunks`; `read` lists the chunks the app pulled."""
    read = []
    source = iter(chunks)

    async def receive():
        chunk = next(source, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        read.append(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": list(headers)}
    return Request(scope, receive), read


def endless(size: int):
    while True:
        yield b"x" * size


def test_a_declared_length_over_the_cap_is_refused_before_reading_anything():
    request, read = request_with(endless(65_536), [(b"content-length", b"200000000")])
    with pytest.raises(ApiError) as refused:
        asyncio.run(read_capped_body(request, 1_000_000))
    assert refused.value.status == 413
    assert read == []


def test_a_chunked_body_is_abandoned_at_the_first_chunk_past_the_cap():
    request, read = request_with(endless(65_536))
    with pytest.raises(ApiError) as refused:
        asyncio.run(read_capped_body(request, 1_000_000))
    assert refused.value.status == 413
    assert len(read) == 1_000_000 // 65_536 + 1


def test_a_body_within_the_cap_is_read_whole():
    request, _ = request_with([b"[1,", b"2]"])
    assert asyncio.run(read_capped_body(request, 10)) == b"[1,2]"


def test_a_content_length_that_is_not_a_number_gives_400():
    request, _ = request_with([b"{}"], [(b"content-length", b"12abc")])
    with pytest.raises(ApiError) as refused:
        asyncio.run(read_capped_body(request, 10))
    assert refused.value.status == 400


def test_an_oversized_body_gets_413_over_http(api):
    response = api.post(
        "/predict", content=b" " * 10_001, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "larger than 10000 bytes" in response.json()["detail"]


def test_a_chunked_oversized_body_gets_413_over_http(api):
    response = api.post(
        "/predict", content=endless_chunks(20), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def endless_chunks(n: int):
    for _ in range(n):
        yield b" " * 1000


def test_a_batch_over_the_cap_gets_413(api):
    response = api.post("/predict", json=[ADELIE] * 6)
    assert response.status_code == 413
    assert response.json()["detail"] == "batch of 6 penguins exceeds 5"


def test_an_empty_batch_gets_422(api):
    response = api.post("/predict", json=[])
    assert response.status_code == 422
    assert response.json()["detail"] == "body: a batch needs at least one penguin"


def test_a_body_that_is_not_json_gets_400(api):
    response = api.post(
        "/predict", content=b"{island:", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("body is not valid JSON")
