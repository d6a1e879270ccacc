"""The whole job on one machine, no Docker: `make run`.

SQLite holds the data and MLflow's backend store, a local folder holds the artifacts. A real
MLflow server (mlflow/start_mlflow.sh), the real API and JupyterLab run as child processes under
taller_mlflow.local.supervisor: one that dies is restarted while the others keep serving, and Ctrl-C
(or SIGTERM) at any step stops them all within seconds.

    python -m taller_mlflow.local [--quick] [--verbose] [--no-wait] [--no-jupyter]
        [--mlflow-port 5000] [--api-port 8989] [--jupyter-port 8888] [--stop-with-parent]
"""

import argparse
import atexit
import json
import os
import secrets
import signal
import sys
import textwrap
import time
from pathlib import Path

import requests
from sqlalchemy.engine import make_url

from taller_mlflow.local import webhook_setup
from taller_mlflow.local.servers import (
    NOTEBOOK,
    ROOT,
    api_server,
    jupyter_server,
    mlflow_server,
    monitor_server,
    port_is_free,
)
from taller_mlflow.local.supervisor import Supervisor, die_with_parent
from taller_mlflow.mlflow_setup import quiet_mlflow
from taller_mlflow.penguins import CSV_NAME, EXAMPLE_PENGUIN
from taller_mlflow.settings import Settings
from taller_mlflow.stage import StageError
from taller_mlflow.training.data import load_csv_into
from taller_mlflow.training.trainer import release_workers, train

INDENT = "      "
# How long a server may take to exit on SIGTERM before it is killed: Ctrl-C ends it all in 5 s.
STOP_GRACE_SECONDS = 2.5


def curl_examples(api: str) -> str:
    body = json.dumps({k: v for k, v in EXAMPLE_PENGUIN.items() if k != "model"})
    return "\n".join(
        [
            f"  curl {api}/listar_modelos",
            f"  curl -X POST {api}/predict -H 'Content-Type: application/json' -d '{body}'",
            f"  curl -X POST {api}/predict -H 'Content-Type: application/json' "
            f"-d '[{body}, {body}]'",
            f"  curl {api}/ready",
            f"  curl {api}/metrics",
            f"  open {api}/docs for Swagger UI",
        ]
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--workdir", default=str(ROOT / ".run"), help="where SQLite files and artifacts go"
    )
    parser.add_argument("--mlflow-port", type=int, default=5000)
    parser.add_argument("--api-port", type=int, default=8989)
    parser.add_argument("--jupyter-port", type=int, default=8888)
    parser.add_argument("--no-jupyter", action="store_true", help="do not start JupyterLab")
    parser.add_argument("--quick", action="store_true", help="2 grid combinations instead of 27")
    parser.add_argument("--verbose", action="store_true", help="print every cross-validation fit")
    parser.add_argument("--no-wait", action="store_true", help="check one prediction, then stop")
    parser.add_argument(
        "--stop-with-parent",
        action="store_true",
        help="stop everything when the parent process dies (make run passes it)",
    )
    return parser.parse_args(argv)


def say(text: str) -> None:
    print(textwrap.indent(text.strip("\n"), INDENT), flush=True)


def raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def handle_signals(stop_with_parent: bool) -> None:
    """Ctrl-C and SIGTERM interrupt whatever step runs, training included."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_interrupt)
    if stop_with_parent:
        parent = os.getppid()
        die_with_parent(signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request was in place
            raise KeyboardInterrupt


def busy_port(args) -> int | None:
    ports = [args.mlflow_port, args.api_port] + ([] if args.no_jupyter else [args.jupyter_port])
    return next((port for port in ports if not port_is_free(port)), None)


def start_mlflow(supervisor: Supervisor, workdir: Path, port: int) -> None:
    print(
        f"[2/5] starting MLflow on http://127.0.0.1:{port} (SQLite backend, artifacts in "
        f"{workdir / 'artifacts'})",
        flush=True,
    )
    mlflow = mlflow_server(
        f"sqlite:///{workdir / 'mlflow.db'}",
        str(workdir / "artifacts"),
        port,
        workdir / "mlflow.log",
        workers=1,
        extra_env=webhook_setup.server_env(workdir),  # deliveries to the local API
    )
    t0 = time.perf_counter()
    supervisor.start(mlflow, 180)
    say(f"up in {time.perf_counter() - t0:.1f}s (pid {mlflow.proc.pid}, log: {mlflow.log_path})")


def spawn_jupyter(supervisor: Supervisor, workdir: Path, port: int, tracking_uri: str):
    """JupyterLab starts alongside MLflow; it is waited for once the API is up."""
    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(16)
    env = {
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_REGISTRY_URI": tracking_uri,
        "DATA_URL": f"sqlite:///{workdir / 'penguins.db'}",
    }
    server = jupyter_server(port, token, workdir / "jupyter.log", env)
    supervisor.spawn(server)
    return server, token


def run_training(data_url: str, tracking_uri: str, args) -> None:
    print("[3/5] training", flush=True)
    settings = Settings(
        data_url=data_url,
        mlflow_tracking_uri=tracking_uri,
        quick_grid=args.quick,
        search_verbose=2 if args.verbose else 1,
    )
    result = train(settings, say=say)
    release_workers()
    say(result.summary())


def prediction_log_url(workdir: Path) -> str:
    """Every prediction is logged; an exported PREDICTION_LOG_URL wins over the SQLite file.
    The API writes it, the drift job reads it."""
    return os.environ.get("PREDICTION_LOG_URL") or f"sqlite:///{workdir.resolve()}/monitoring.db"


def start_api(
    supervisor: Supervisor, workdir: Path, port: int, tracking_uri: str, webhook_secret: str = ""
) -> None:
    api_url = f"http://127.0.0.1:{port}"
    print(f"[4/5] starting the API on {api_url}", flush=True)
    log_url = prediction_log_url(workdir)
    api = api_server(
        port,
        tracking_uri,
        workdir / "api.log",
        extra_env={"PREDICTION_LOG_URL": log_url, "TALLER_WEBHOOK_SECRET": webhook_secret},
    )
    t0 = time.perf_counter()
    supervisor.start(api, 120)
    say(f"up in {time.perf_counter() - t0:.1f}s (pid {api.proc.pid}, log: {api.log_path})")
    shown = make_url(log_url).render_as_string(hide_password=True)
    say(f"predictions logged to {shown} (table prediction_log)")
    answer = requests.post(f"{api_url}/predict", json=EXAMPLE_PENGUIN, timeout=30).json()
    say(f"check: {answer['prediction']} from {answer['model']} version {answer['version']}")


def start_monitor(supervisor: Supervisor, workdir: Path, tracking_uri: str) -> None:
    """The drift job, on the stack's schedule (TALLER_MONITOR_INTERVAL_SECONDS), supervised like
    the servers: it writes its checks to MLflow (experiment monitoring_<model>)."""
    job = monitor_server(tracking_uri, prediction_log_url(workdir), workdir / "monitor.log")
    supervisor.spawn(job)
    every = Settings().monitor_interval_seconds
    say(f"drift job every {every:g} s (pid {job.proc.pid}, log: {job.log_path})")


def lab_url(port: int, token: str) -> str:
    return f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}?token={token}"


def print_ready(args, jupyter, token: str | None) -> None:
    print("[5/5] ready")
    print(f"  MLflow UI   http://127.0.0.1:{args.mlflow_port}")
    print(f"  API docs    http://127.0.0.1:{args.api_port}/docs")
    print(f"  Drift       MLflow experiment monitoring_{Settings().model_name} (now: make monitor)")
    if jupyter:
        url = lab_url(args.jupyter_port, token)
        if os.environ.get("JUPYTER_TOKEN"):
            url = lab_url(args.jupyter_port, "$JUPYTER_TOKEN") + " (the token you set)"
        print(f"  JupyterLab  {url}")
    print(curl_examples(f"http://127.0.0.1:{args.api_port}"), flush=True)


def supervise(supervisor: Supervisor) -> int:
    print("Running; a server that exits is restarted. Press Ctrl-C to stop everything.", flush=True)
    try:
        while not supervisor.all_gave_up:
            time.sleep(1)
    except KeyboardInterrupt:  # the way to stop `make run`: not an error
        print("\nstopping", flush=True)
        return 0
    print("error: every server gave up (see the lines above)")
    return 1


def run(args, supervisor: Supervisor, workdir: Path) -> int:
    data_url = f"sqlite:///{workdir / 'penguins.db'}"
    tracking_uri = f"http://127.0.0.1:{args.mlflow_port}"
    print(f"[1/5] loading taller_mlflow/{CSV_NAME} into SQLite ({workdir / 'penguins.db'})")
    say(f"{load_csv_into(data_url)} rows")
    jupyter = token = None
    if not args.no_jupyter:
        jupyter, token = spawn_jupyter(supervisor, workdir, args.jupyter_port, tracking_uri)
    start_mlflow(supervisor, workdir, args.mlflow_port)
    api_url = f"http://127.0.0.1:{args.api_port}"
    secret = webhook_setup.register_local(tracking_uri, api_url, workdir, say)
    run_training(data_url, tracking_uri, args)
    start_api(supervisor, workdir, args.api_port, tracking_uri, secret)
    start_monitor(supervisor, workdir, tracking_uri)
    if jupyter:
        jupyter.wait_healthy(120)
    print_ready(args, jupyter, token)
    return 0 if args.no_wait else supervise(supervisor)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    quiet_mlflow()
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    port = busy_port(args)
    if port is not None:
        print(f"error: port {port} is already in use (stop what holds it, or pass another port)")
        return 1
    supervisor = None
    try:
        handle_signals(args.stop_with_parent)
        supervisor = Supervisor(say=say, grace=STOP_GRACE_SECONDS)
        return run(args, supervisor, workdir)
    except (StageError, RuntimeError) as exc:
        print(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: stopping", flush=True)
        return 130
    finally:
        stop_everything(supervisor, jupyter=not args.no_jupyter)


def stop_everything(supervisor: Supervisor | None, jupyter: bool) -> None:
    """Runs once, whatever happened; a second Ctrl-C must not cut it short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if supervisor is None:
        return
    started = bool(supervisor.children)
    supervisor.stop()
    if started:
        print("stopped MLflow and the API" + (", and JupyterLab" if jupyter else ""), flush=True)


def exit_now(code: int) -> None:
    """Everything this process started is stopped by now. Run the exit hooks (joblib removes its
    temporary folders in one), then skip the interpreter's teardown, which with MLflow and
    scikit-learn loaded takes seconds on a busy machine."""
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
