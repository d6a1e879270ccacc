"""Accuracy over time, drawn from the quality check's MLflow runs: per version, the realised
accuracy of each pass, CBPE's estimate beside it, and the alarm's floor (held-out accuracy minus
the tolerance). The picture in docs/monitoring.md is this function's, from the integration test."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless, as the other pictures

from matplotlib import pyplot as plt  # noqa: E402


def series(runs) -> dict[str, list[tuple]]:
    """version -> [(pass, accuracy, estimated or None, floor or None)]; a pass is one window
    end (one run of the job checks every version with the same window)."""
    ends = sorted({run.data.params["window_end"] for run in runs})
    out: dict[str, list[tuple]] = {}
    for run in runs:
        metrics, version = run.data.metrics, run.data.params["model_version"]
        index = ends.index(run.data.params["window_end"]) + 1
        point = (
            index,
            metrics["accuracy"],
            metrics.get("estimated_accuracy"),
            metrics.get("accuracy_floor"),
        )
        out.setdefault(version, []).append(point)
    return out


def draw(runs, path: Path, tolerance: float) -> Path:
    """runs: the quality runs, oldest first (MlflowClient.search_runs)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for version, points in sorted(series(runs).items()):
        x = [p[0] for p in points]
        line = ax.plot(x, [p[1] for p in points], "o-", label=f"v{version} accuracy (labels)")[0]
        estimated = [(p[0], p[2]) for p in points if p[2] is not None]
        if estimated:
            ax.plot(*zip(*estimated, strict=True), "x--", color=line.get_color(),
                    label=f"v{version} estimated (CBPE)")  # fmt: skip
        floors = [(p[0], p[3]) for p in points if p[3] is not None]
        if floors:
            ax.plot(*zip(*floors, strict=True), ":", color=line.get_color(),
                    label=f"v{version} floor (held-out - {tolerance:g})")  # fmt: skip
    ax.set_xlabel("pass of the quality check (oldest first)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title("Accuracy on labelled traffic per version, from MLflow")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
