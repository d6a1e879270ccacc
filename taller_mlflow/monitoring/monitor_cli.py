"""The drift job: python -m taller_mlflow.monitor [--once] (make monitor runs it once).

Reads the prediction log (PREDICTION_LOG_URL), compares each version that predicted in the window
with its training reference, and writes the checks to MLflow (experiment monitoring_<model>,
version tags drift.status and drift.checked_at); see taller_mlflow/monitoring/job.py. Then it
measures each version's accuracy on the labels posted to /feedback (quality_job.py) and, with
TALLER_AUTO_ROLLBACK=true, rolls back a live version below its floor (autorollback.py).

Without --once it is a service: a check every TALLER_MONITOR_INTERVAL_SECONDS (10 min), with its
Prometheus metrics on TALLER_MONITOR_METRICS_PORT (9108), until SIGTERM or Ctrl-C. A pass that
fails (database or MLflow down) is logged in one line and counted; the next one runs as usual.
"""

import argparse
import logging
import signal
import sys
import threading
from datetime import UTC, datetime

import sqlalchemy as sa

from taller_mlflow.settings import Settings, env_name, help_text

log = logging.getLogger("taller_mlflow.monitoring.monitor_cli")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m taller_mlflow.monitor",
        description=__doc__,
        epilog=help_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument(
        "--since", type=_when, help="window start, ISO 8601 (default: now - window)"
    )
    parser.add_argument("--until", type=_when, help="window end, ISO 8601 (default: now)")
    parser.add_argument(
        "--log-url", help=f"prediction log URL (setting {env_name('prediction_log_url')})"
    )
    parser.add_argument(
        "--tracking-uri", help=f"MLflow server (setting {env_name('mlflow_tracking_uri')})"
    )
    return parser.parse_args(argv)


def _when(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)  # naive means UTC


def one_pass(settings: Settings, engine, client, since=None, until=None) -> list:
    from taller_mlflow.monitoring.job import run_checks

    checks = run_checks(settings, engine, client, since, until)
    for c in checks:
        outcome = f"skipped ({c.skipped})" if c.skipped else f"{c.status} (run {c.run_id})"
        drifted = (
            f", drifted: {', '.join(c.report.drifted)}" if c.report and c.report.drifted else ""
        )
        print(f"{c.model}/{c.version}: {c.rows} rows, {outcome}{drifted}", flush=True)
    if not checks:
        print("no version predicted in the window", flush=True)
    quality_pass(settings, engine, client, since, until)
    return checks


def quality_pass(settings: Settings, engine, client, since=None, until=None) -> list:
    """Accuracy on the labels that arrived (taller_mlflow/monitoring/quality_job.py)."""
    from taller_mlflow.monitoring import quality_gauges
    from taller_mlflow.monitoring.feedback_schema import any_label

    if not any_label(engine):  # no label yet: the drift job's process stays free of pandas
        quality_gauges.publish([], settings.quality_tolerance)
        return []
    from taller_mlflow.monitoring.quality_job import run_quality

    checks = run_quality(settings, engine, client, since, until)
    for c in checks:
        q = c.quality
        if q is None:
            print(f"{c.model}/{c.version}: quality skipped ({c.skipped})", flush=True)
            continue
        estimate = "n/a" if q.estimated_accuracy is None else f"{q.estimated_accuracy:.3f}"
        heldout = "n/a" if q.heldout_accuracy is None else f"{q.heldout_accuracy:.3f}"
        print(
            f"{c.model}/{c.version}: accuracy {q.accuracy:.3f} over {q.labels} labels "
            f"(estimated {estimate}, held-out {heldout}, run {c.run_id})"
            + (f"; {c.action}" if c.action else ""),
            flush=True,
        )
    quality_gauges.publish(checks, settings.quality_tolerance)
    return checks


def serve(settings: Settings, engine, client) -> int:
    """Check every interval until SIGTERM/SIGINT; the metrics server answers meanwhile."""
    from prometheus_client import start_http_server

    from taller_mlflow.monitoring import gauges

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    host, port = settings.monitor_metrics_host, settings.monitor_metrics_port
    metrics = f"; metrics on http://{host}:{port}/metrics" if port else ""
    if port:
        start_http_server(port, host)
    print(f"checking every {settings.monitor_interval_seconds:g} s{metrics}", flush=True)
    while not stop.is_set():
        try:
            gauges.publish(one_pass(settings, engine, client))
            gauges.passed(True)
        except Exception as exc:  # the service outlives a database or MLflow outage
            gauges.passed(False)
            reason = (str(exc).splitlines() or [""])[0]
            print(f"error: drift check failed: {type(exc).__name__}: {reason}", flush=True)
            log.debug("drift check failed", exc_info=True)
        stop.wait(settings.monitor_interval_seconds)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = {"prediction_log_url": args.log_url, "mlflow_tracking_uri": args.tracking_uri}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    if not settings.prediction_log_url:
        print(f"error: no prediction log: set {env_name('prediction_log_url')}", file=sys.stderr)
        return 1
    from taller_mlflow.monitoring.monitor_rest import MonitorTracking

    uri = settings.mlflow_tracking_uri
    try:  # MLflow's REST API, not its package: the job's memory is the window's (monitor_rest.py)
        client = MonitorTracking(uri, timeout=settings.mlflow_request_timeout_seconds)
    except ValueError as exc:
        print(f"error: {exc} (set {env_name('mlflow_tracking_uri')})", file=sys.stderr)
        return 1
    engine = sa.create_engine(settings.prediction_log_url, pool_pre_ping=True)
    if not args.once:
        return serve(settings, engine, client)
    try:
        one_pass(settings, engine, client, args.since, args.until)
    except Exception as exc:
        where = sa.engine.make_url(settings.prediction_log_url).render_as_string(hide_password=True)
        reason = (str(exc).splitlines() or [""])[0]
        print(
            f"error: drift check ({where}, {uri}): {type(exc).__name__}: {reason}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
