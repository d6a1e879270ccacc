"""Swagger UI (/docs) and ReDoc (/redoc) served from assets installed with the package.

FastAPI's own pages load their JavaScript and CSS from a public CDN, so behind a classroom proxy
or in an air-gapped VM they render blank. fastapi-offline ships the same Swagger UI and ReDoc
bundles inside its wheel; this module serves them with FastAPI's documented self-hosting recipe
(custom docs routes over a StaticFiles mount), keeping the usual URLs.
"""

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/docs-assets"
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
# ReDoc's sidebar footer loads a Redocly logo from its CDN (hidden when that fails): images from
# this API only, so the page asks nothing of the network.
REDOC_CSP = "img-src 'self' data:"


def _drop_routes(app: FastAPI, paths: set[str]) -> None:
    """Remove the CDN-backed pages FastAPI registered for these paths."""
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in paths]


def install_offline_docs(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve Swagger UI at `docs_url` and ReDoc at `redoc_url` with no request leaving the host."""
    missing = [name for name in ASSET_FILES if not (ASSETS_DIR / name).is_file()]
    if missing:
        raise RuntimeError(f"fastapi-offline is missing {missing} in {ASSETS_DIR}: reinstall it")
    oauth2_url = app.swagger_ui_oauth2_redirect_url or f"{docs_url}/oauth2-redirect"
    _drop_routes(app, {docs_url, redoc_url, oauth2_url})
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    def prefix(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request):
        root = prefix(request)
        return get_swagger_ui_html(
            openapi_url=root + app.openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + oauth2_url,
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        )

    @app.get(oauth2_url, include_in_schema=False)
    async def swagger_ui_redirect():
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request):
        root = prefix(request)
        page = get_redoc_html(
            openapi_url=root + app.openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = REDOC_CSP
        return page
