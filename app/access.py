"""Who may call the API, and how much: API keys, a per-client rate limit, a concurrency limit.
Pure ASGI middlewares, each off or cheap when not configured.

- ApiKeyMiddleware (TALLER_API_KEYS): `Authorization: Bearer KEY` or `X-API-Key: KEY`, compared
  in constant time; 401 otherwise. Off by default: the workshop's clients send no key.
- RateLimitMiddleware (TALLER_RATE_LIMIT, e.g. "100/second"): per client (its key when keys are
  on, else its address), a moving window from the `limits` library; 429 with Retry-After past it.
  Off by default, as serving frameworks' own limits are; the Kubernetes production overlay sets it.
  Each worker counts its own clients (the window lives in its memory).
- ConcurrencyLimitMiddleware (TALLER_MAX_CONCURRENT_REQUESTS): past that many requests in
  progress a worker answers 503 with Retry-After instead of queueing without bound.

Probes, metrics, the docs and MLflow's webhook (it carries its own HMAC signature) are open: a
liveness probe must never wait behind a limit, nor need a key.
"""

import hmac
import math
import time

from prometheus_client import Counter

from app.errors import error_response

OPEN_PATHS = frozenset(
    {
        "/health",
        "/ready",
        "/metrics",
        "/ping",
        "/v2/health/live",
        "/v2/health/ready",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/webhooks/mlflow",
    }
)
OPEN_PREFIXES = ("/docs-assets/",)

REFUSED = Counter(
    "api_refused_total",
    "Requests refused before reaching an endpoint (reason: no_key, bad_key, rate, busy)",
    ["reason"],
)


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def presented_key(scope) -> bytes | None:
    auth = _header(scope, b"authorization")
    if auth and auth[:7].lower() == b"bearer ":
        return auth[7:].strip()
    return _header(scope, b"x-api-key")


class ApiKeyMiddleware:
    def __init__(self, app, keys: list[str]):
        self.app, self.keys = app, [k.encode() for k in keys]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or is_open(scope["path"]):
            return await self.app(scope, receive, send)
        key = presented_key(scope)
        if key is None:
            REFUSED.labels("no_key").inc()
            return await self._refuse(scope, receive, send, "an API key is required")
        # Every key is compared, so the time taken says nothing about which one nearly matched.
        matches = [hmac.compare_digest(key, k) for k in self.keys]
        if not any(matches):
            REFUSED.labels("bad_key").inc()
            return await self._refuse(scope, receive, send, "the API key is not valid")
        scope.setdefault("state", {})["client_key"] = key.decode(errors="replace")
        return await self.app(scope, receive, send)

    async def _refuse(self, scope, receive, send, why: str):
        detail = f"{why}: send it as `Authorization: Bearer KEY` or `X-API-Key: KEY`"
        response = error_response(401, detail, {"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


class RateLimitMiddleware:
    def __init__(self, app, limit: str):
        # Imported here: only a worker with a rate limit pays for the library's import.
        from limits import parse, storage, strategies

        self.app, self.item = app, parse(limit)
        self.limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def client(self, scope) -> str:
        key = scope.get("state", {}).get("client_key")
        if key is not None:
            return f"key:{key}"
        host = scope.get("client") or ("unknown", 0)
        return f"addr:{host[0]}"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or is_open(scope["path"]):
            return await self.app(scope, receive, send)
        who = self.client(scope)
        if self.limiter.hit(self.item, who):
            return await self.app(scope, receive, send)
        REFUSED.labels("rate").inc()
        reset = self.limiter.get_window_stats(self.item, who).reset_time
        retry = max(1, math.ceil(reset - time.time()))
        response = error_response(
            429,
            f"rate limit of {self.item} exceeded for this client; retry in {retry} s",
            {"Retry-After": str(retry)},
        )
        await response(scope, receive, send)


class ConcurrencyLimitMiddleware:
    def __init__(self, app, most: int):
        self.app, self.most, self.in_progress = app, most, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or is_open(scope["path"]):
            return await self.app(scope, receive, send)
        if self.in_progress >= self.most:
            REFUSED.labels("busy").inc()
            response = error_response(
                503,
                f"this worker is answering {self.in_progress} requests already; retry",
                {"Retry-After": "1"},
            )
            return await response(scope, receive, send)
        self.in_progress += 1  # the event loop's own counter: no lock needed
        try:
            return await self.app(scope, receive, send)
        finally:
            self.in_progress -= 1
