"""python -m app [--host H] [--port P] [--workers N]: run the API with uvicorn.

Host, port and workers come from the settings (environment or .env); a flag overrides its
setting. The API image runs exactly this, so the settings hold in a container too.
"""

import argparse
import copy
import os
import tempfile

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from taller_mlflow.settings import env_name, get_settings, help_text

APP = "app.main:app"  # an import string: uvicorn imports it in each worker process


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description=__doc__,
        epilog=help_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", help=f"interface to listen on (setting {env_name('api_host')})")
    parser.add_argument("--port", type=int, help=f"port (setting {env_name('api_port')})")
    parser.add_argument(
        "--workers", type=int, help=f"worker processes (setting {env_name('api_workers')})"
    )
    return parser.parse_args(argv)


def log_config() -> dict:
    """uvicorn's logging, plus the API's own loggers at INFO on the same handler: loads, swaps,
    refused versions and the prediction log's outages are worth a line (every worker applies it)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    for name in ("taller_mlflow", "app"):
        config["loggers"][name] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = get_settings()
    workers = settings.api_workers if args.workers is None else args.workers
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker counts its own requests: prometheus_client's multiprocess mode adds them up
        # from this directory, which the workers inherit through the environment.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="api-metrics-")
    uvicorn.run(
        APP,
        host=settings.api_host if args.host is None else args.host,
        port=settings.api_port if args.port is None else args.port,
        workers=workers,
        log_level="info",
        log_config=log_config(),
        access_log=False,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


if __name__ == "__main__":
    main()
