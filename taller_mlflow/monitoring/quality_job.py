"""The quality check: each version's realised accuracy on the labels that arrived, logged to MLflow.

For every (model, version) with labelled predictions answered in the window (the drift job's,
[start, end)), at least `monitor_min_labels` of them, it measures the version
(taller_mlflow.monitoring.quality) and writes one MLflow run in experiment `monitoring_<model>`:
metrics accuracy, f1_macro, labels, label_delay_p50/p95_seconds, estimated_accuracy (CBPE),
heldout_accuracy and accuracy_gap (held-out minus realised), each stamped with the window's end
so the run history draws accuracy over time; the confusion matrix as confusion_matrix.png and the
numbers in quality.json. The version is tagged quality.accuracy, quality.labels,
quality.checked_at and quality.run_id. Then, when TALLER_AUTO_ROLLBACK is on, the auto-rollback
asks for it (rollback_request.py).
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from taller_mlflow.monitoring.check_runs import CheckRun, record_check
from taller_mlflow.monitoring.heldout import Calibrations, heldout_accuracy, scored_heldout
from taller_mlflow.monitoring.labelled import read_labelled
from taller_mlflow.monitoring.monitor_rest import TrackingError
from taller_mlflow.monitoring.quality import Quality, measure

log = logging.getLogger(__name__)

ACCURACY_TAG, LABELS_TAG = "quality.accuracy", "quality.labels"
CHECKED_TAG, RUN_TAG = "quality.checked_at", "quality.run_id"


@dataclass
class QualityCheck:
    model: str
    version: str
    labels: int
    quality: Quality | None = None
    run_id: str | None = None
    skipped: str | None = None
    action: str | None = None  # what the auto-rollback did or why it did not


def run_quality(
    settings, engine, client, start=None, end=None, calibrations=None, act=None
) -> list[QualityCheck]:
    """Measure every version with labelled rows in [start, end). `calibrations` and `act`
    (name, version, evidence -> what was done) are for tests: the real ones read the registry
    and run the promotion command."""
    end = (end or datetime.now(UTC)).astimezone(UTC)
    start = (start or end - timedelta(hours=settings.monitor_window_hours)).astimezone(UTC)
    uri = settings.mlflow_tracking_uri
    calibrations = calibrations or Calibrations(lambda n, v: scored_heldout(client, uri, n, v))
    frame = read_labelled(engine, start, end)
    checks = []
    for (name, version), rows in frame.groupby(["model_name", "model_version"], sort=True):
        name, version, n = str(name), str(version), len(rows)
        if n < settings.monitor_min_labels:
            skipped = f"{n} labels, fewer than {settings.monitor_min_labels}"
            checks.append(QualityCheck(name, version, n, skipped=skipped))
            continue
        try:
            heldout = heldout_accuracy(client, name, version)
        except TrackingError as exc:
            checks.append(QualityCheck(name, version, n, skipped=f"registry: {exc}"))
            continue
        quality = measure(name, version, rows, calibrations(name, version), heldout)
        run_id = record(client, quality, settings.quality_tolerance, start, end)
        check = QualityCheck(name, version, n, quality, run_id)
        if wants_rollback(settings, check):
            check.action = (act or _request)(settings, name, version, evidence(check, settings))
        checks.append(check)
        log.info("quality: %s/%s accuracy %.3f over %d labels", name, version, quality.accuracy, n)
    return checks


def wants_rollback(settings, check: QualityCheck) -> bool:
    """Only the served model's versions, only below their floor, only when asked for; whether
    the version is live and within the bounds is the promotion command's to decide."""
    return (
        settings.auto_rollback
        and check.model == settings.model_name
        and check.quality.below(settings.quality_tolerance)
    )


def evidence(check: QualityCheck, settings) -> dict:
    quality = check.quality
    return {
        "accuracy": round(quality.accuracy, 4),
        "floor": round(quality.floor(settings.quality_tolerance), 4),
        "heldout_accuracy": quality.heldout_accuracy,
        "labels": quality.labels,
        "quality_run_id": check.run_id,
    }


def _request(settings, name, version, evidence_) -> str:
    from taller_mlflow.monitoring.rollback_request import request_rollback

    return request_rollback(settings, name, version, evidence_)


def metrics_of(quality: Quality, tolerance: float) -> dict[str, float]:
    values = {
        "accuracy": quality.accuracy,
        "f1_macro": quality.f1_macro,
        "labels": quality.labels,
        "label_delay_p50_seconds": quality.delay_p50_seconds,
        "label_delay_p95_seconds": quality.delay_p95_seconds,
        "estimated_accuracy": quality.estimated_accuracy,
        "heldout_accuracy": quality.heldout_accuracy,
        "accuracy_floor": quality.floor(tolerance),
    }
    if quality.heldout_accuracy is not None:
        values["accuracy_gap"] = quality.heldout_accuracy - quality.accuracy
    return {k: float(v) for k, v in values.items() if v is not None}


def record(client, quality: Quality, tolerance: float, start, end) -> str:
    from taller_mlflow.monitoring import quality_report

    name, version = quality.model, quality.version
    title = f"{name} v{version}, to {end:%Y-%m-%d %H:%M}"
    check = CheckRun(
        run_name=f"quality {name} v{version} {end:%Y-%m-%d %H:%M}",
        run_tags={"model_name": name, "model_version": version, "check": "quality"},
        metrics=metrics_of(quality, tolerance),
        params={
            "model_name": name,
            "model_version": version,
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "quality_tolerance": str(tolerance),
        },
        figure=lambda: quality_report.confusion_figure(quality, title),
        close=quality_report.close,
        picture_file="confusion_matrix.png",
        numbers=quality.as_dict(),
        numbers_file="quality.json",
        version_tags={
            ACCURACY_TAG: f"{quality.accuracy:.4f}",
            LABELS_TAG: str(quality.labels),
            CHECKED_TAG: datetime.now(UTC).isoformat(timespec="seconds"),
        },
        run_tag=RUN_TAG,
    )
    return record_check(client, name, version, check, end)
