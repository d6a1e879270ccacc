"""One JSON file per phase in bench/results/ (only the latest run of each), every target in the
same shape: what, the measured side and its reference as median (min–max) with their values, the
result (a ratio, a change or the median itself), the goal and the verdict.

Each file records the machine, the load average before and after the phase, the commit of the
bench and of the API it measured, which cores ran what, and the run's settings.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

from bench import stats


def side(label: str, unit: str, values: list[float]) -> dict:
    return {"label": label, "unit": unit, **stats.summary(values)}


def ratio_target(
    tid: str, what: str, measured: dict, reference: dict, goal: float, at_most: bool = False
) -> dict:
    """measured / reference (ratio of the medians) against a goal such as ≥ 20× or ≤ 0.5×."""
    return {
        "id": tid,
        "what": what,
        "measured": measured,
        "reference": reference,
        "result": stats.ratio(measured, reference),
        "result_unit": "×",
        "goal": f"{'≤' if at_most else '≥'} {goal:g}×",
        "verdict": stats.ratio_verdict(measured, reference, goal, at_most),
    }


def value_target(
    tid: str,
    what: str,
    measured: dict,
    goal: float,
    reference: dict | None = None,
    at_most: bool = True,
) -> dict:
    """measured's median against a goal (≤ 1 ms, ≤ 1.0 s); the reference is shown beside it."""
    return {
        "id": tid,
        "what": what,
        "measured": measured,
        "reference": reference,
        "result": measured["median"],
        "result_unit": measured["unit"],
        "goal": f"{'≤' if at_most else '≥'} {goal:g} {measured['unit']}",
        "verdict": stats.value_verdict(measured, goal, at_most),
    }


def cost_target(tid: str, what: str, on: dict, off: dict, goal_pct: float | None) -> dict:
    """How much more `on` costs than `off` (percent on the medians); within noise when the
    ranges overlap. goal_pct None: report only."""
    return {
        "id": tid,
        "what": what,
        "measured": on,
        "reference": off,
        "result": stats.change_pct(on, off),
        "result_unit": "%",
        "goal": f"≤ {goal_pct:g}%" if goal_pct is not None else "report",
        "verdict": stats.cost_verdict(on, off, goal_pct),
        # Said beside a "within noise": whether the medians alone would meet the goal.
        "median_meets_goal": None if goal_pct is None else stats.change_pct(on, off) <= goal_pct,
    }


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def write(out: Path, name: str, payload: dict) -> Path:
    """bench/results/<name>.json, replacing the previous run's."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=_plain) + "\n")
    return path


def _plain(value):
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    return str(value)


def load_all(out: Path) -> dict[str, dict]:
    """Every phase's latest results, by phase name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}
