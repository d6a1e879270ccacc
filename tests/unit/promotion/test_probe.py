"""The fresh-process probe's own parts: the registered input example read through the tracking
server's artifact proxy (no MLflow in the child), and the child started ahead and asked later
over its stdin. A small local server answers as MLflow's does."""

import json
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from taller_mlflow.local.servers import free_port
from taller_mlflow.penguins import FEATURES
from taller_mlflow.promotion.probe import FreshProcess, proxied_path, registered_example

ROOT = "mlflow-artifacts:/2/models/m-abc/artifacts"
MLMODEL = """\
artifact_path: mlflow-artifacts:/2/models/m-abc/artifacts
flavors:
  sklearn:
    pickled_model: model.pkl
saved_input_example_info:
  artifact_path: input_example.json
  pandas_orient: split
  serving_input_path: serving_input_example.json
  type: dataframe
"""
EXAMPLE = {
    "columns": ["island", "sex", "culmen_length_mm", "culmen_depth_mm", "flipper_length_mm",
                "body_mass_g"],
    "data": [["Dream", "MALE", 50.9, 19.1, 196.0, 3550], ["Biscoe", "FEMALE", 49.3, 15.7, 217, 5850]],
}  # fmt: skip


class Handler(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    calls: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        self.calls.append(self.path)
        if self.path.startswith("/api/2.0/mlflow/model-versions/get-download-uri"):
            body = json.dumps({"artifact_uri": ROOT}).encode()
        else:
            prefix = "/api/2.0/mlflow-artifacts/artifacts/2/models/m-abc/artifacts/"
            body = (
                self.files.get(self.path.removeprefix(prefix))
                if self.path.startswith(prefix)
                else None
            )
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    Handler.files = {
        "MLmodel": MLMODEL.encode(),
        "input_example.json": json.dumps(EXAMPLE).encode(),
    }
    Handler.calls = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_only_this_servers_proxied_artifacts_are_read_over_rest():
    assert proxied_path(ROOT) == "2/models/m-abc/artifacts"
    assert proxied_path("mlflow-artifacts://other:5000/2/models/m-abc/artifacts") is None
    assert proxied_path("s3://mlflows3/2/models/m-abc/artifacts") is None


def test_the_registered_example_is_read_as_the_api_reads_its_columns(server):
    example = registered_example(server, "modelo_penguins", "1")
    assert sorted(example) == sorted(FEATURES)
    assert example["island"] == ["Dream", "Biscoe"] and example["sex"] == ["MALE", "FEMALE"]
    assert example["body_mass_g"] == [3550.0, 5850.0]
    assert all(isinstance(v, float) for v in example["flipper_length_mm"])
    fetched = [c.split("?")[0].rsplit("/", 1)[-1] for c in Handler.calls]
    assert fetched == ["get-download-uri", "MLmodel", "input_example.json"]  # no pickle


def test_a_model_logged_without_an_example_has_none(server):
    Handler.files["MLmodel"] = MLMODEL.split("saved_input_example_info")[0].encode()
    assert registered_example(server, "modelo_penguins", "1") is None


def test_the_probe_child_reads_the_example_without_importing_mlflow(server):
    script = textwrap.dedent(
        f"""
        import sys
        from taller_mlflow.promotion import probe
        probe.prepare()
        example = probe.registered_example({server!r}, "modelo_penguins", "1")
        print(len(example["island"]), "mlflow" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["2", "False"]


def test_a_child_started_ahead_answers_the_version_it_is_asked_for_later():
    unreachable = f"http://127.0.0.1:{free_port()}"
    probe = FreshProcess(unreachable, timeout=120)
    try:
        result = probe("modelo_penguins", "7")
    finally:
        probe.close()
    assert not result.loaded and not result.predicted
    assert result.detail.startswith("cannot load:")  # the child's own answer, over its stdout
    assert probe.proc.returncode is not None


def test_a_child_started_ahead_and_never_asked_is_stopped_by_close():
    probe = FreshProcess(f"http://127.0.0.1:{free_port()}")
    probe.close()
    assert probe.proc.returncode is not None
