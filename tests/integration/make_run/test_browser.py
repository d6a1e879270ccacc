"""`make run`'s pages in a real headless Chromium (Debian's package, driven by Playwright) that can
reach nothing but this machine: every request to another host (a CDN) is refused and recorded.

Screenshots go to test-artifacts/browser/ at the repository's root."""

import json
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from taller_mlflow.local.servers import ROOT

pytestmark = pytest.mark.timeout(2400)

ARTIFACTS = ROOT / "test-artifacts" / "browser"
LOOPBACK = {"127.0.0.1", "localhost", "[::1]"}
SPECIES = {"Adelie", "Chinstrap", "Gentoo"}
EXPERIMENT = "mlflow_penguins_vf"
UI_TIMEOUT_MS = 60_000


def chromium_path() -> str:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        pytest.fail("no Chromium for the browser tests: apt-get install chromium")
    return found


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: Chromium's sandbox refuses to start as root, which CI runs as.
        chromium = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def offline(browser):
    """(page, refused): a page whose requests off this machine are refused, and their URLs."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    refused: list[str] = []

    def only_loopback(route):
        if urlsplit(route.request.url).hostname in LOOPBACK | {"::1"}:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_loopback)
    yield context.new_page(), refused
    context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=False)


def test_swagger_ui_renders_offline_and_try_it_out_on_predict_returns_a_species(make_run, offline):
    page, refused = offline
    page.goto(f"{make_run.api}/docs")
    try:
        page.wait_for_selector(".opblock-summary-path", timeout=UI_TIMEOUT_MS)
    finally:
        screenshot(page, "swagger-ui.png")
    paths = {
        el.get_attribute("data-path") for el in page.query_selector_all(".opblock-summary-path")
    }
    assert {"/predict", "/listar_modelos", "/health", "/ready", "/metrics"} <= paths, paths

    predict = page.locator(".opblock-post").filter(
        has=page.locator('.opblock-summary-path[data-path="/predict"]')
    )
    predict.locator(".opblock-summary").click()
    predict.get_by_role("button", name="Try it out").click()
    predict.get_by_role("button", name="Execute").click()
    body = predict.locator(".live-responses-table .response-col_description pre").first
    body.wait_for(timeout=UI_TIMEOUT_MS)
    body.scroll_into_view_if_needed()
    screenshot(page, "swagger-ui-predict.png")
    answer = json.loads(body.inner_text())
    assert answer["prediction"] in SPECIES, answer
    assert refused == [], f"/docs asked for resources off this machine: {refused}"


def test_redoc_renders_offline(make_run, offline):
    page, refused = offline
    page.goto(f"{make_run.api}/redoc")
    page.get_by_text("Penguin species API").first.wait_for(timeout=UI_TIMEOUT_MS)
    page.get_by_text("/predict").first.wait_for(timeout=UI_TIMEOUT_MS)
    screenshot(page, "redoc.png")
    assert refused == [], f"/redoc asked for resources off this machine: {refused}"


def experiment_id(mlflow: str) -> str:
    resp = requests.get(
        f"{mlflow}/api/2.0/mlflow/experiments/get-by-name",
        params={"experiment_name": EXPERIMENT},
        timeout=30,
    )
    resp.raise_for_status()
    return resp.json()["experiment"]["experiment_id"]


def test_mlflow_ui_shows_the_28_runs_and_the_production_alias_offline(make_run, offline):
    page, refused = offline
    page.goto(f"{make_run.mlflow}/#/experiments/{experiment_id(make_run.mlflow)}/runs")
    count = page.get_by_text(re.compile(r"\d+ matching runs")).first
    try:
        page.get_by_text("grid_search").first.wait_for(timeout=UI_TIMEOUT_MS)  # rows loaded
        page.get_by_text("0 matching runs", exact=True).wait_for(
            state="detached", timeout=UI_TIMEOUT_MS
        )
    finally:
        screenshot(page, "mlflow-runs.png")
    assert count.inner_text().strip() == "28 matching runs"  # 1 parent + 27 combinations

    page.goto(f"{make_run.mlflow}/#/models/modelo_penguins")
    alias = page.get_by_text(re.compile(r"^@?\s*production$")).first
    try:
        alias.wait_for(timeout=UI_TIMEOUT_MS)
    finally:
        screenshot(page, "mlflow-model.png")
    assert page.get_by_text("Version 1").first.is_visible()
    assert refused == [], f"the MLflow UI asked for resources off this machine: {refused}"


def test_jupyterlab_opens_on_the_notebook_with_a_python_kernel(make_run, offline):
    page, _ = offline
    page.goto(f"{make_run.jupyter}/?token={make_run.token}")  # the root opens on the notebook
    tab = page.locator(".lm-TabBar-tabLabel", has_text="mlflow_pipeline.ipynb").first
    kernel = page.get_by_text("Python 3 (ipykernel)").first
    try:
        tab.wait_for(timeout=UI_TIMEOUT_MS)
        kernel.wait_for(timeout=UI_TIMEOUT_MS)
        page.get_by_text("tracking_uri = os.environ.get").first.wait_for(timeout=UI_TIMEOUT_MS)
    finally:
        screenshot(page, "jupyterlab.png")
