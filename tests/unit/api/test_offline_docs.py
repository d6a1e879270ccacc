"""app.docs.install_offline_docs: /docs and /redoc reference only assets served by the API itself.

(The real browser, with every request off the host refused, is tests/integration/make_run/.)"""

import re

import pytest
from fastapi.testclient import TestClient

from app.docs import install_offline_docs
from app.factory import create_app
from tests.unit.serving_fixtures import unit_settings

ASSET_REF = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*["']([^"']+)["']""")


@pytest.fixture
def api(make_registry):
    settings = unit_settings()
    app = create_app(settings, make_registry(settings))
    install_offline_docs(app)
    with TestClient(app) as http:
        yield http


def referenced_urls(html: str) -> list[str]:
    return [a or b for a, b in ASSET_REF.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_every_asset_from_the_api_itself(api, page):
    resp = api.get(page)
    assert resp.status_code == 200
    urls = referenced_urls(resp.text)
    assert urls, resp.text
    external = [u for u in urls if "://" in u or u.startswith("//")]
    assert not external, f"{page} still loads from outside: {external}"
    for url in urls:
        assert api.get(url).status_code == 200, url


def test_the_bundles_are_the_real_swagger_ui_and_redoc(api):
    js = api.get("/docs-assets/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert "SwaggerUIBundle" in js.text and len(js.content) > 500_000
    assert "Redoc" in api.get("/docs-assets/redoc.standalone.js").text


def test_redoc_may_load_images_from_the_api_only(api):
    """Its bundle hard-codes a logo on a CDN: the page's policy keeps the browser from asking."""
    assert api.get("/redoc").headers["content-security-policy"] == "img-src 'self' data:"


def test_docs_routes_are_replaced_not_duplicated_and_stay_out_of_the_schema(api):
    paths = [getattr(r, "path", None) for r in api.app.router.routes]
    for path in ["/docs", "/redoc", "/docs/oauth2-redirect"]:
        assert paths.count(path) == 1, paths
    assert not any(
        p.startswith(("/docs", "/redoc")) for p in api.get("/openapi.json").json()["paths"]
    )


def test_the_openapi_url_honours_a_root_path(make_registry):
    settings = unit_settings()
    app = create_app(settings, make_registry(settings))
    install_offline_docs(app)
    with TestClient(app, root_path="/penguins") as http:
        html = http.get("/docs").text
    assert "/penguins/openapi.json" in html
    assert "/penguins/docs-assets/swagger-ui-bundle.js" in html
