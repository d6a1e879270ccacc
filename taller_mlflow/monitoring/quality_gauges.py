"""The quality check's Prometheus gauges, beside the drift job's (taller_mlflow.monitoring.gauges),
for the alarm in prometheus/alerts.yml: `model_accuracy < model_accuracy_floor` over at least
`model_accuracy_labels` labels. The floor is exported rather than written into the rule, so the
rule follows TALLER_QUALITY_TOLERANCE and each version's own held-out accuracy."""

from prometheus_client import Counter, Gauge

LABELS = ["model", "version"]
ACCURACY = Gauge(
    "model_accuracy", "Realised accuracy on labelled predictions in the window", LABELS
)
ESTIMATED = Gauge(
    "model_accuracy_estimated", "CBPE's estimated accuracy of the same predictions", LABELS
)
HELDOUT = Gauge("model_accuracy_heldout", "The version's held-out test_accuracy", LABELS)
FLOOR = Gauge(
    "model_accuracy_floor",
    "Held-out accuracy minus TALLER_QUALITY_TOLERANCE: the alarm's threshold",
    LABELS,
)
F1 = Gauge("model_f1_macro", "Macro F1 on labelled predictions in the window", LABELS)
COUNT = Gauge("model_accuracy_labels", "Labelled predictions the accuracy is measured on", LABELS)
DELAY = Gauge(
    "model_label_delay_seconds",
    "Time from answer to label, by quantile",
    [*LABELS, "quantile"],
)
ROLLBACKS = Counter(
    "monitor_auto_rollbacks_total", "Rollbacks of the served alias by the quality check", LABELS
)
SERIES = (ACCURACY, ESTIMATED, HELDOUT, FLOOR, F1, COUNT, DELAY)


def publish(checks, tolerance: float) -> None:
    """Replace the series with this pass's: a version with no measured window leaves them."""
    for gauge in SERIES:
        gauge.clear()
    for check in checks:
        quality = check.quality
        if quality is None:
            continue
        labels = {"model": check.model, "version": check.version}
        ACCURACY.labels(**labels).set(quality.accuracy)
        F1.labels(**labels).set(quality.f1_macro)
        COUNT.labels(**labels).set(quality.labels)
        DELAY.labels(**labels, quantile="0.5").set(quality.delay_p50_seconds)
        DELAY.labels(**labels, quantile="0.95").set(quality.delay_p95_seconds)
        if quality.estimated_accuracy is not None:
            ESTIMATED.labels(**labels).set(quality.estimated_accuracy)
        if quality.heldout_accuracy is not None:
            HELDOUT.labels(**labels).set(quality.heldout_accuracy)
            FLOOR.labels(**labels).set(quality.floor(tolerance))
        if check.action and "rolled back from" in check.action:
            ROLLBACKS.labels(**labels).inc()


def exposition(checks, tolerance: float) -> dict[str, float]:
    """series -> value as Prometheus would scrape them, e.g. for a promtool test's input."""
    publish(checks, tolerance)
    out = {}
    for gauge in SERIES:
        for metric in gauge.collect():
            for sample in metric.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                out[f"{sample.name}{{{labels}}}"] = sample.value
    return out
