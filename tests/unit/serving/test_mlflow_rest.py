"""The API's MLflow REST client over real HTTP, against a small local server that answers as
MLflow's does: paging to the end, basic auth, "not found" vs every other error, artifacts, retries.
(The real MLflow server is in tests/integration: test_serving_registry, test_lean_worker.)"""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from taller_mlflow.serving.mlflow_rest import MlflowRest, credentials_from_env
from taller_mlflow.serving.problems import ModelNotFound, RegistryUnavailable

PAGE_CAP = 3  # the server's own page size, whatever max_results asks
VERSIONS = [
    {"name": "m", "version": str(v), "run_id": f"r{v}", "status": "READY",
     "tags": [{"key": "t", "value": str(v)}], "aliases": ["production"] if v == 7 else []}
    for v in range(1, 8)
]  # fmt: skip


class Handler(BaseHTTPRequestHandler):
    server_version = "FakeMLflow"
    calls: list = []
    auth: str | None = None
    fail_next: list = []  # statuses to answer before behaving

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: dict | bytes) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _page(self, items: list, key: str, query: dict) -> dict:
        start = int(query.get("page_token", ["0"])[0])
        end = start + min(PAGE_CAP, int(query.get("max_results", ["100"])[0]))
        page = {key: items[start:end]}
        if end < len(items):
            page["next_page_token"] = str(end)
        return page

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        Handler.calls.append((self.command, url.path, query))
        if Handler.auth and self.headers.get("Authorization") != Handler.auth:
            return self._send(401, b"You are not authenticated.")
        if Handler.fail_next:
            return self._send(Handler.fail_next.pop(0), {"error_code": "INTERNAL_ERROR"})
        if url.path == "/api/2.0/mlflow/model-versions/search":
            return self._send(200, self._page(VERSIONS, "model_versions", query))
        if url.path == "/api/2.0/mlflow/registered-models/search":
            models = [{"name": f"m{i}"} for i in range(5)]
            return self._send(200, self._page(models, "registered_models", query))
        if url.path == "/api/2.0/mlflow/registered-models/alias":
            if query["alias"] == ["production"]:
                return self._send(200, {"model_version": VERSIONS[6]})
            return self._send(
                400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "alias not found"}
            )
        if url.path == "/get-artifact":
            if query["path"] == ["serving/v7/model.onnx"]:
                return self._send(200, b"\x08\x07graph bytes")
            if query["path"] == ["serving/v7/gone"]:  # S3 says 404: MLflow answers 500
                message = "An error occurred (404) when calling the HeadObject operation: Not Found"
                return self._send(500, {"error_code": "INTERNAL_ERROR", "message": message})
            if query["path"] == ["serving/v7/s3-down"]:
                message = "Could not connect to the endpoint URL: http://minio:9000/"
                return self._send(500, {"error_code": "INTERNAL_ERROR", "message": message})
            return self._send(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "nope"})
        if url.path == "/version":
            return self._send(200, b"3.17.2")
        return self._send(404, b"<html>Not Found</html>")


@pytest.fixture
def server():
    Handler.calls, Handler.auth, Handler.fail_next = [], None, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Handler.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield Handler.base
    httpd.shutdown()


def test_searches_follow_next_page_tokens_to_the_end(server):
    rest = MlflowRest(server, auth={})
    assert [v.version for v in rest.search_model_versions("m")] == [str(v) for v in range(1, 8)]
    assert len(rest.search_registered_models()) == 5
    searches = [c for c in Handler.calls if c[1].endswith("model-versions/search")]
    assert len(searches) == 3  # 7 versions, 3 a page
    assert searches[0][2]["filter"] == ["name='m'"]


def test_a_version_comes_with_its_tags_aliases_and_run(server):
    mv = MlflowRest(server, auth={}).get_model_version_by_alias("m", "production")
    assert (mv.version, mv.run_id, mv.tags, mv.aliases) == ("7", "r7", {"t": "7"}, ["production"])


def test_mlflows_not_found_codes_are_model_not_found(server):
    with pytest.raises(ModelNotFound, match="m@champion"):
        MlflowRest(server, auth={}).get_model_version_by_alias("m", "champion")


def test_basic_auth_is_sent_and_a_refusal_is_registry_unavailable(server):
    Handler.auth = "Basic " + base64.b64encode(b"reader:s3cret").decode()
    with pytest.raises(RegistryUnavailable, match="refused the API's credentials \\(401\\)"):
        MlflowRest(server, auth={}).server_version()
    rest = MlflowRest(
        server,
        auth=credentials_from_env(
            {"MLFLOW_TRACKING_USERNAME": "reader", "MLFLOW_TRACKING_PASSWORD": "s3cret"}
        ),
    )
    assert rest.server_version() == "3.17.2"


def test_a_5xx_is_retried_then_reported_as_registry_unavailable(server):
    Handler.fail_next = [503]
    assert MlflowRest(server, retries=1, auth={}).server_version() == "3.17.2"
    Handler.fail_next = [500, 500]
    with pytest.raises(RegistryUnavailable, match="INTERNAL_ERROR|version"):
        MlflowRest(server, retries=1, auth={}).server_version()


def test_an_unreachable_server_is_registry_unavailable():
    with pytest.raises(RegistryUnavailable, match="MLflow at http://127.0.0.1:9"):
        MlflowRest("http://127.0.0.1:9", timeout=1, retries=0, auth={}).server_version()


def test_run_artifacts_download_through_the_server(server):
    rest = MlflowRest(server, auth={})
    assert rest.download_run_artifact("r7", "serving/v7/model.onnx") == b"\x08\x07graph bytes"
    with pytest.raises(ModelNotFound):
        rest.download_run_artifact("r7", "serving/v7/other")
    with pytest.raises(ModelNotFound):  # the store's 404 inside MLflow's 500
        rest.download_run_artifact("r7", "serving/v7/gone")
    with pytest.raises(RegistryUnavailable, match="Could not connect"):  # not the file's fault
        MlflowRest(Handler.base, retries=0, auth={}).download_run_artifact(
            "r7", "serving/v7/s3-down"
        )
    (call,) = [c for c in Handler.calls if c[1] == "/get-artifact"][:1]
    assert call[2] == {"run_id": ["r7"], "path": ["serving/v7/model.onnx"]}


def test_credentials_follow_mlflows_own_variables():
    assert credentials_from_env({}) == {}
    token = credentials_from_env({"MLFLOW_TRACKING_TOKEN": "t0k"})
    assert token == {"Authorization": "Bearer t0k"}
