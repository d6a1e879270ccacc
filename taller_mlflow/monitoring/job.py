"""The drift job: each model version's logged predictions in a window against its reference.

For every (model, version) with rows in table prediction_log between `start` and `end` (default:
the last `monitor_window_hours`), at least `monitor_min_rows` of them, it
- loads the version's reference profile from its source run (reference_profile.json);
- streams the version's rows of the window, chunk by chunk, into a summary of counts
  (taller_mlflow.monitoring.window) and compares it with the profile (drift.report);
- writes one MLflow run in experiment `monitoring_<model>`: a metric per feature (psi_*,
  p_value_*, status_* with 0 ok, 1 warn, 2 drift), the overall `drift_status`, the rows, the
  picture drift_report.png and the numbers in drift_report.json;
- tags the version: drift.status (ok, warn, drift), drift.checked_at (UTC, ISO 8601), drift.run_id.
A version with too few rows, unknown to the registry or without a profile is skipped, and the
reason is returned and logged; the others are still checked.

Shadow rows (endpoint "shadow") are the challenger's predictions on production traffic: they are
checked under the challenger's version like any other, so a challenger shows drift before it is
promoted.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from taller_mlflow.monitoring import report as pictures
from taller_mlflow.monitoring.check_runs import CheckRun, record_check
from taller_mlflow.monitoring.drift import DriftReport, Thresholds, code, report
from taller_mlflow.monitoring.monitor_rest import MonitorTracking, TrackingError
from taller_mlflow.monitoring.reference import NoProfile, load_profile
from taller_mlflow.monitoring.schema import FEATURE_COLUMNS, prediction_log
from taller_mlflow.monitoring.window import WindowSummary
from taller_mlflow.settings import Settings

log = logging.getLogger(__name__)

STATUS_TAG, CHECKED_TAG, RUN_TAG = "drift.status", "drift.checked_at", "drift.run_id"
# Rows fetched at a time: a few MB of Python objects, however large the window
# (bench/drift_memory.py measures the job's peak on a 2-million-row window).
CHUNK_ROWS = 20_000


@dataclass(frozen=True)
class Check:
    """One version's outcome: a status and its run, or the reason it was skipped."""

    model: str
    version: str
    rows: int
    status: str | None = None
    run_id: str | None = None
    report: DriftReport | None = None
    skipped: str | None = None


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(
        settings.monitor_psi_warn, settings.monitor_psi_drift, settings.monitor_p_value
    )


def window_counts(engine: sa.Engine, start: datetime, end: datetime) -> list[tuple[str, str, int]]:
    """(model, version, rows) of every version with rows logged in [start, end), counted by
    the database: the window itself never comes into this process whole."""
    t = prediction_log
    query = (
        sa.select(t.c.model_name, t.c.model_version, sa.func.count())
        .where(t.c.ts >= start, t.c.ts < end)
        .group_by(t.c.model_name, t.c.model_version)
        .order_by(t.c.model_name, t.c.model_version)
    )
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(t.name):  # nothing was logged yet
            return []
        return [(str(name), str(version), int(n)) for name, version, n in conn.execute(query)]


def summarise(engine: sa.Engine, name: str, version: str, start, end, summary: WindowSummary):
    """Stream one version's rows of the window into `summary`, CHUNK_ROWS at a time (a
    server-side cursor where the driver has one), and return it."""
    t = prediction_log
    columns = [*FEATURE_COLUMNS, "prediction"]
    query = sa.select(*(t.c[c] for c in columns)).where(
        t.c.ts >= start, t.c.ts < end, t.c.model_name == name, t.c.model_version == version
    )
    with engine.connect() as conn:
        streamed = conn.execution_options(stream_results=True, yield_per=CHUNK_ROWS)
        for chunk in streamed.execute(query).partitions():
            summary.add(dict(zip(columns, zip(*chunk, strict=True), strict=True)))
    return summary


def run_checks(
    settings: Settings,
    engine: sa.Engine,
    client: MonitorTracking,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Check]:
    """Check every version with rows in the window, [start, end)."""
    # UTC throughout: SQLite keeps the log's timestamps as naive UTC text, compared as text.
    end = (end or datetime.now(UTC)).astimezone(UTC)
    start = (start or end - timedelta(hours=settings.monitor_window_hours)).astimezone(UTC)
    counts = window_counts(engine, start, end)
    checks = []
    for name, version, rows in counts:
        check = _check(settings, client, engine, name, version, rows, (start, end))
        if check.skipped:  # info, not warning: a quiet hour is no fault
            log.info("drift: skipped %s/%s: %s", name, version, check.skipped)
        else:
            log.info("drift: %s/%s %s over %d rows", name, version, check.status, check.rows)
        checks.append(check)
    if not counts:
        log.info("drift: no prediction logged between %s and %s", start, end)
    return checks


def _check(settings, client, engine, name, version, n, window) -> Check:
    if n < settings.monitor_min_rows:
        return Check(name, version, n, skipped=f"{n} rows, fewer than {settings.monitor_min_rows}")
    try:
        run_id = client.get_model_version(name, version).run_id
        profile = load_profile(client, run_id)
    except TrackingError as exc:
        return Check(name, version, n, skipped=f"registry: {exc}")
    except NoProfile as exc:
        return Check(name, version, n, skipped=str(exc))
    summary = summarise(engine, name, version, *window, WindowSummary(profile))
    result = report(summary, thresholds(settings))
    run_id = record(client, name, version, result, *window)
    return Check(name, version, result.rows, result.status, run_id, result)


def record(client, name: str, version: str, result: DriftReport, start, end) -> str:
    """The check as an MLflow run, and its status as tags of the model version."""
    checked_at = datetime.now(UTC)
    metrics = {"rows": result.rows, "drift_status": code(result.status)}
    for drift in [*result.features.values(), result.prediction]:
        metrics |= {
            f"psi_{drift.feature}": drift.psi,
            f"p_value_{drift.feature}": drift.p_value,
            f"status_{drift.feature}": code(drift.status),
        }
    title = f"{name} v{version}, {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC"
    check = CheckRun(
        run_name=f"drift {name} v{version} {end:%Y-%m-%d %H:%M}",
        run_tags={"model_name": name, "model_version": version, STATUS_TAG: result.status},
        metrics=metrics,
        params={
            "model_name": name,
            "model_version": version,
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
        },
        batch_tags={"drift.features": ",".join(result.drifted) or "none"},
        figure=lambda: pictures.figure(result, title),
        close=pictures.close,
        picture_file="drift_report.png",
        numbers=result.as_dict(),
        numbers_file="drift_report.json",
        version_tags={
            STATUS_TAG: result.status,
            CHECKED_TAG: checked_at.isoformat(timespec="seconds"),
        },
        run_tag=RUN_TAG,
    )
    return record_check(client, name, version, check, checked_at)
