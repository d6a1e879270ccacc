"""The drift check's picture: reference vs. window, one panel per feature and one for the
predicted classes, each titled with its PSI, p-value and status."""

import matplotlib

matplotlib.use("Agg")  # no display: the job runs headless, in a container or under `make run`

import numpy as np  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402

from taller_mlflow.monitoring.drift import DriftReport, FeatureDrift  # noqa: E402

close = plt.close  # for callers that need not import pyplot themselves

COLOURS = {"ok": "tab:green", "warn": "tab:orange", "drift": "tab:red"}


def _panel(ax, drift: FeatureDrift) -> None:
    labels = list(drift.reference)
    x = np.arange(len(labels))
    ax.bar(x - 0.2, [drift.reference[k] for k in labels], 0.4, label="reference", color="0.6")
    ax.bar(
        x + 0.2,
        [drift.current.get(k, 0.0) for k in labels],
        0.4,
        label="window",
        color=COLOURS[drift.status],
    )
    extra = [k for k in drift.current if k not in drift.reference]
    if extra:  # a category the reference never saw
        ax.bar(np.arange(len(labels), len(labels) + len(extra)) + 0.2,
               [drift.current[k] for k in extra], 0.4, color=COLOURS[drift.status])  # fmt: skip
        labels += extra
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("share")
    ax.set_title(
        f"{drift.feature}: {drift.status.upper()}\n"
        f"PSI {drift.psi:.3f}, {drift.test} p={drift.p_value:.2g}",
        fontsize=9,
        color=COLOURS[drift.status],
    )


def figure(report: DriftReport, title: str):
    """A matplotlib figure of the report; the caller closes it."""
    panels = [*report.features.values(), report.prediction]
    cols = 4
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.4 * rows), squeeze=False)
    for ax, drift in zip(axes.flat, panels, strict=False):
        _panel(ax, drift)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{title}: {report.status.upper()} ({report.rows} rows)")
    fig.tight_layout()
    return fig
