"""The shadow challenger against the real MLflow server and the API over HTTP.

Production is the project's pipeline; the challenger is a real, deliberately different model
(always "Adelie", tests/support/models.always_adelie), both verified by the gate's export, so the agreement rate is the share of penguins production calls Adelie: the
test knows it exactly. Every request is shadowed here (TALLER_SHADOW_FRACTION=1)."""

import httpx
import pytest
import sqlalchemy as sa

from taller_mlflow.monitoring import migrate
from taller_mlflow.monitoring.schema import prediction_log
from tests.support import ADELIE, wait_for
from tests.support.models import always_adelie, training_data
from tests.support.promotion import MODEL, log_version, registry_client, start_api
from tests.support.services import start_stack


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("shadow")
    stack = start_stack(workdir)
    api = None  # stopped however the set-up ends: no server outlives a failed fixture
    try:
        production, _ = log_version(stack)
        x, _ = training_data()
        challenger, _ = log_version(stack, always_adelie())
        client = registry_client(stack)
        client.set_registered_model_alias(MODEL, "production", production)
        log_url = f"sqlite:///{workdir / 'predictions.db'}"
        api, base = start_api(
            stack,
            workdir,
            TALLER_SHADOW_FRACTION=1,
            MODEL_REFRESH_SECONDS=1,
            PREDICTION_LOG_URL=log_url,
            TALLER_PREDICTION_LOG_FLUSH_SECONDS=0.2,
        )
        http = httpx.Client(base_url=base, timeout=30)
        penguins = x.sample(60, random_state=0).to_dict(orient="records")
        yield client, http, production, challenger, penguins, sa.create_engine(log_url)
        http.close()
    finally:
        if api is not None:
            api.stop()
        stack.close()


def shadow_of(http, version: str) -> dict | None:
    return version_info(http, version)["shadow"]


def version_info(http, version: str) -> dict:
    model = next(m for m in http.get("/listar_modelos").json()["modelos"] if m["name"] == MODEL)
    return next(v for v in model["versions"] if v["version"] == version)


def settled(http, version: str) -> dict | None:
    """The shadow's counts once its worker has scored what was queued (it takes a batch every
    0.1 s): two reads 0.5 s apart that agree."""
    last: list = [None]

    def same_twice():
        now, before = shadow_of(http, version), last[0]
        last[0] = now
        return now if now is not None and now == before else None

    return wait_for(same_twice, 10, interval=0.5)


def test_bodies_unchanged_and_agreement_recorded(env):
    client, http, production, challenger, penguins, engine = env
    assert version_info(http, production)["inference"] == "onnxruntime"
    without = http.post("/predict", json=penguins)
    assert without.status_code == 200
    assert shadow_of(http, challenger) is None

    client.set_registered_model_alias(MODEL, "challenger", challenger)
    # the API re-reads the challenger alias at its poll (1 s here): wait until it shadows
    assert wait_for(lambda: http.post("/predict", json=ADELIE) and shadow_of(http, challenger), 30)
    before = settled(http, challenger)  # the last of those posts may still be queued
    assert before, "the shadow counts kept moving with no request"

    with_shadow = http.post("/predict", json=penguins)
    assert with_shadow.status_code == 200
    assert with_shadow.json() == without.json()  # the response never depends on the challenger
    adelie = sum(p["prediction"] == "Adelie" for p in with_shadow.json())
    assert 0 < adelie < len(penguins)

    def scored():
        now = shadow_of(http, challenger)
        return now if now["rows"] == before["rows"] + len(penguins) else None

    after = wait_for(scored, 30, 0.2)
    assert after, f"the batch was not shadowed: {shadow_of(http, challenger)}"
    assert after["agreed"] - before["agreed"] == adelie
    assert after["against_versions"] == [production]
    assert 0 < after["agreement_rate"] < 1

    metrics = http.get("/metrics").text
    assert f'challenger_version="{challenger}"' in metrics
    assert "api_shadow_rows_total" in metrics

    request_id = with_shadow.headers["x-request-id"]
    query = sa.select(prediction_log.c.model_version, prediction_log.c.agrees).where(
        prediction_log.c.request_id == request_id, prediction_log.c.endpoint == "shadow"
    )

    def shadow_rows():
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        return rows if len(rows) == len(penguins) else None

    rows = wait_for(shadow_rows, 30, 0.2)
    assert rows, "no shadow rows in the prediction log"
    assert {r.model_version for r in rows} == {challenger}
    assert sum(bool(r.agrees) for r in rows) == adelie


def test_ready_lists_the_supervised_threads_and_the_log_is_at_its_latest_schema(env):
    """Over HTTP, from a real API process: /ready names each background thread (the writer and
    the shadow worker beside the refresher) alive, and the writer migrated the log at start."""
    _, http, _, _, _, engine = env
    threads = http.get("/ready").json()["threads"]
    assert set(threads) == {"model-refresh", "prediction-log", "shadow"}
    assert all(t["alive"] and t["restarts"] == 0 for t in threads.values()), threads
    with engine.connect() as conn:
        assert migrate.current(conn) == migrate.head()
