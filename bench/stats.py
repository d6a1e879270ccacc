"""Rounds, summaries and verdicts: the one place the benchmark's statistics live.

Every comparison runs as interleaved rounds (A, B, A, B, ...: a change in the machine's load hits
both sides alike), is summarised per side as median (min–max), and is judged on the medians only:
never on a best cell. A target about a difference (a cost, the shadow's impact) whose two sides'
ranges overlap is "within noise".
"""

import math
import statistics
from collections.abc import Callable, Mapping

MIN_ROUNDS = 5  # the rules: a verdict rests on the median of at least 5 interleaved rounds

MET, NOT_MET, WITHIN_NOISE, OUTSIDE_NOISE = "met", "not met", "within noise", "outside noise"


def interleave(rounds: int, sides: Mapping[str, Callable[[int], object]]) -> dict[str, list]:
    """Run each side once per round, in the order given, `rounds` times: A, B, A, B, ...

    `sides` maps a name to a callable taking the round's index (0-based); returns name -> the
    callables' results in round order."""
    if rounds < 1:
        raise ValueError("at least one round")
    out: dict[str, list] = {name: [] for name in sides}
    for n in range(rounds):
        for name, run in sides.items():
            out[name].append(run(n))
    return out


def summary(values: list[float]) -> dict:
    """median, min, max, n and the values themselves (rounded for the JSON)."""
    if not values:
        raise ValueError("no values to summarise")
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
        "values": list(values),
    }


def overlap(a: dict, b: dict) -> bool:
    """True when the two summaries' min–max ranges share any value."""
    return a["min"] <= b["max"] and b["min"] <= a["max"]


def ratio(a: dict, b: dict) -> float:
    """The ratio of the medians, a / b."""
    return a["median"] / b["median"]


def change_pct(on: dict, off: dict) -> float:
    """How much `on`'s median exceeds `off`'s, in percent (negative: less)."""
    return 100.0 * (on["median"] / off["median"] - 1.0)


def _meets(value: float, goal: float, at_most: bool) -> bool:
    return value <= goal if at_most else value >= goal


def value_verdict(measured: dict, goal: float, at_most: bool = True) -> str:
    """A target on one side's value (p50 ≤ 1 ms, first prediction ≤ 1 s): its median decides."""
    return MET if _meets(measured["median"], goal, at_most) else NOT_MET


def ratio_verdict(a: dict, b: dict, goal: float, at_most: bool = False) -> str:
    """A target on a ratio of two sides (≥ 20×, ≤ 0.5×): the ratio of the medians decides."""
    return MET if _meets(ratio(a, b), goal, at_most) else NOT_MET


def cost_verdict(on: dict, off: dict, goal_pct: float | None) -> str:
    """A target about a difference (`on` may cost at most goal_pct percent more than `off`).

    Overlapping ranges: "within noise" (the rounds cannot tell the two sides apart). Otherwise
    met / not met on the medians; with no goal (report only), "outside noise"."""
    if overlap(on, off):
        return WITHIN_NOISE
    if goal_pct is None:
        return OUTSIDE_NOISE
    return MET if change_pct(on, off) <= goal_pct else NOT_MET


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100) of `values`; no interpolation."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def num(x: float | None) -> str:
    """A number with as many decimals as its size needs, thousands separated; n/a for none."""
    if x is None or math.isnan(x):
        return "n/a"
    a = abs(x)
    if a >= 100:
        return f"{x:,.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def fmt(s: dict, unit: str = "") -> str:
    """'median (min–max) unit', the one way the bench writes a summary."""
    text = f"{num(s['median'])} ({num(s['min'])}–{num(s['max'])})"
    return f"{text} {unit}" if unit else text
