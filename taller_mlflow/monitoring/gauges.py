"""The drift job's Prometheus metrics, served by `python -m taller_mlflow.monitor` in loop mode
(job `monitor` in prometheus/prometheus.yml). Status values: 0 ok, 1 warn, 2 drift."""

import time

from prometheus_client import Counter, Gauge

from taller_mlflow.monitoring.drift import code
from taller_mlflow.monitoring.job import Check

FEATURE_DRIFT = Gauge(
    "model_feature_drift",
    "PSI of a feature in the last check's window against the version's training reference",
    ["model", "version", "feature"],
)
FEATURE_P_VALUE = Gauge(
    "model_feature_drift_p_value",
    "p-value of the feature's test (KS or chi-squared) against the training reference",
    ["model", "version", "feature"],
)
FEATURE_STATUS = Gauge(
    "model_feature_drift_status",
    "Drift status of a feature: 0 ok, 1 warn, 2 drift",
    ["model", "version", "feature"],
)
STATUS = Gauge(
    "model_drift_status",
    "Overall drift status of a version: 0 ok, 1 warn, 2 drift",
    ["model", "version"],
)
ROWS = Gauge("model_drift_rows", "Logged rows in the last check's window", ["model", "version"])
CHECKED = Gauge(
    "model_drift_checked_timestamp_seconds",
    "When the version was last checked",
    ["model", "version"],
)
SKIPPED = Counter(
    "monitor_versions_skipped_total",
    "Versions with rows in the window that could not be checked (too few rows, no profile)",
    ["model", "version"],
)
PASSES = Counter("monitor_passes_total", "Drift job passes, by outcome", ["outcome"])
LAST_SUCCESS = Gauge(
    "monitor_last_success_timestamp_seconds", "End of the last drift job pass that succeeded"
)


def publish(checks: list[Check]) -> None:
    """Show one pass's checks. The drift series are replaced, not added to: a version that no
    longer predicts (out of the window) leaves the gauges, so its last alert clears too."""
    for gauge in (STATUS, ROWS, CHECKED, FEATURE_DRIFT, FEATURE_P_VALUE, FEATURE_STATUS):
        gauge.clear()
    for check in checks:
        _show(check)


def _show(check: Check) -> None:
    labels = {"model": check.model, "version": check.version}
    if check.skipped:
        SKIPPED.labels(**labels).inc()
        return
    STATUS.labels(**labels).set(code(check.status))
    ROWS.labels(**labels).set(check.rows)
    CHECKED.labels(**labels).set(time.time())
    for drift in [*check.report.features.values(), check.report.prediction]:
        feature = {**labels, "feature": drift.feature}
        FEATURE_DRIFT.labels(**feature).set(drift.psi)
        FEATURE_P_VALUE.labels(**feature).set(drift.p_value)
        FEATURE_STATUS.labels(**feature).set(code(drift.status))


def passed(ok: bool) -> None:
    PASSES.labels("ok" if ok else "error").inc()
    if ok:
        LAST_SUCCESS.set(time.time())
