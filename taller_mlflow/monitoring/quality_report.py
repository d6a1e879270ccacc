"""The quality check's picture: the confusion matrix, titled with realised vs. held-out accuracy."""

import matplotlib

matplotlib.use("Agg")  # headless, as the drift picture

from matplotlib import pyplot as plt  # noqa: E402

close = plt.close


def confusion_figure(quality, title: str):
    """A matplotlib figure; the caller closes it."""
    fig, ax = plt.subplots(figsize=(4.5, 4))
    matrix = quality.confusion
    ax.imshow(matrix, cmap="Blues")
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center")
    ticks = range(len(quality.classes))
    ax.set_xticks(ticks, quality.classes)
    ax.set_yticks(ticks, quality.classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("labelled (true)")
    heldout = "n/a" if quality.heldout_accuracy is None else f"{quality.heldout_accuracy:.3f}"
    ax.set_title(
        f"{title}\naccuracy {quality.accuracy:.3f} (held-out {heldout}), {quality.labels} labels",
        fontsize=9,
    )
    fig.tight_layout()
    return fig
