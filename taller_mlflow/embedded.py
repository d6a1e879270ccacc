"""The whole job on one machine, no Docker: `make run`.

SQLite holds the data and MLflow's backend store, a local folder holds the artifacts, and a real
MLflow server (mlflow/start_mlflow.sh) and the real API run as child processes. Ctrl-C stops both.

    python -m taller_mlflow.embedded [--quick] [--no-wait] [--mlflow-port 5000] [--api-port 8989]
"""

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

import requests

from taller_mlflow.data import CSV_NAME, load_csv_into
from taller_mlflow.errors import StageError
from taller_mlflow.schemas import EXAMPLE_PENGUIN
from taller_mlflow.servers import ROOT, api_server, mlflow_server, port_is_free
from taller_mlflow.settings import Settings
from taller_mlflow.train import quiet_mlflow, release_workers, train


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
    parser.add_argument("--quick", action="store_true", help="2 grid combinations instead of 27")
    parser.add_argument("--no-wait", action="store_true", help="check one prediction, then stop")
    return parser.parse_args(argv)


def timed_start(server, timeout: float) -> None:
    t0 = time.perf_counter()
    server.start(timeout=timeout)
    print(f"      up in {time.perf_counter() - t0:.1f}s (log: {server.log_path})")


def start_mlflow(workdir: Path, port: int, servers: list):
    print(
        f"[2/5] starting MLflow on http://127.0.0.1:{port} (SQLite backend, artifacts in "
        f"{workdir / 'artifacts'})"
    )
    mlflow = mlflow_server(
        f"sqlite:///{workdir / 'mlflow.db'}",
        str(workdir / "artifacts"),
        port,
        workdir / "mlflow.log",
        workers=1,
    )
    servers.append(mlflow)
    timed_start(mlflow, 180)


def start_api(workdir: Path, port: int, tracking_uri: str, servers: list) -> None:
    api_url = f"http://127.0.0.1:{port}"
    print(f"[4/5] starting the API on {api_url}")
    api = api_server(port, tracking_uri, workdir / "api.log")
    servers.append(api)
    timed_start(api, 120)
    answer = requests.post(f"{api_url}/predict", json=EXAMPLE_PENGUIN, timeout=30).json()
    print(f"      check: {answer['prediction']} from {answer['model']} version {answer['version']}")


def wait_until_stopped(stop: threading.Event, servers: list) -> int:
    print("Press Ctrl-C to stop MLflow and the API.")
    while not stop.wait(1):
        for server in servers:
            if not server.running:
                print(f"error: {server.name} exited; see {server.log_path}")
                return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_mlflow()
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for port in (args.mlflow_port, args.api_port):
        if not port_is_free(port):
            print(
                f"error: port {port} is already in use (stop what holds it, or pass another port)"
            )
            return 1

    data_url = f"sqlite:///{workdir / 'penguins.db'}"
    tracking_uri = f"http://127.0.0.1:{args.mlflow_port}"
    servers = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        print(f"[1/5] loading taller_mlflow/{CSV_NAME} into SQLite ({workdir / 'penguins.db'})")
        print(f"      {load_csv_into(data_url)} rows")
        start_mlflow(workdir, args.mlflow_port, servers)

        print("[3/5] training")
        settings = Settings(
            data_url=data_url,
            mlflow_tracking_uri=tracking_uri,
            quick_grid=args.quick,
            search_verbose=2,
        )
        result = train(settings, say=lambda line: print("      " + line.strip()))
        release_workers()
        print("      " + result.summary().replace("\n", "\n      "))

        start_api(workdir, args.api_port, tracking_uri, servers)
        print("[5/5] ready")
        print(f"  MLflow UI   {tracking_uri}")
        print(f"  API docs    http://127.0.0.1:{args.api_port}/docs")
        print(curl_examples(f"http://127.0.0.1:{args.api_port}"))
        return 0 if args.no_wait else wait_until_stopped(stop, servers)
    except (StageError, RuntimeError) as exc:
        print(f"error: {exc}")
        return 1
    finally:
        for server in reversed(servers):
            server.stop()
        if servers:
            print("stopped MLflow and the API")


if __name__ == "__main__":
    sys.exit(main())
