"""`make run`'s JupyterLab: how it is started (taller_mlflow.local.servers.jupyter_server) and the flag
that leaves it off. Starting it for real is tests/integration/make_run/."""

import socket

from taller_mlflow.local.embedded import busy_port, parse_args
from taller_mlflow.local.servers import NOTEBOOK, free_port, jupyter_server


def test_jupyter_listens_on_loopback_opens_on_the_notebook_and_keeps_the_token_off_argv(
    monkeypatch,
):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-the-notebook")
    server = jupyter_server(8123, "s3cret", extra_env={"DATA_URL": "sqlite:///x.db"})
    assert "--ip=127.0.0.1" in server.cmd and "--port=8123" in server.cmd
    assert f"--LabApp.default_url=/lab/tree/{NOTEBOOK}" in server.cmd
    assert "--ServerApp.port_retries=0" in server.cmd  # a busy port is an error, not port+1
    assert not any("s3cret" in arg for arg in server.cmd)
    assert server.env["JUPYTER_TOKEN"] == "s3cret"
    assert server.env["DATA_URL"] == "sqlite:///x.db"
    assert "AWS_SECRET_ACCESS_KEY" not in server.env
    assert server.health_url == "http://127.0.0.1:8123/api"


def test_a_busy_jupyter_port_stops_make_run_unless_jupyter_is_off():
    free = [str(free_port()), str(free_port())]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = ["--mlflow-port", free[0], "--api-port", free[1], "--jupyter-port", str(port)]
        assert busy_port(parse_args(ports)) == port
        assert busy_port(parse_args([*ports, "--no-jupyter"])) is None
