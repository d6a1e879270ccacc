"""bench/stats.py: interleaved rounds, median (min–max) summaries and the verdicts on them."""

import pytest

from bench import stats


def test_interleave_runs_the_sides_in_turn_round_after_round():
    calls = []

    def side(name):
        def run(n):
            calls.append((name, n))
            return f"{name}{n}"

        return run

    out = stats.interleave(3, {"a": side("a"), "b": side("b")})
    assert calls == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert out == {"a": ["a0", "a1", "a2"], "b": ["b0", "b1", "b2"]}


def test_interleave_needs_a_round():
    with pytest.raises(ValueError):
        stats.interleave(0, {"a": lambda n: n})


def test_summary_is_the_median_and_the_range_never_a_best_value():
    s = stats.summary([5.0, 1.0, 9.0, 3.0, 7.0])
    assert (s["median"], s["min"], s["max"], s["n"]) == (5.0, 1.0, 9.0, 5)
    assert s["values"] == [5.0, 1.0, 9.0, 3.0, 7.0]  # in round order
    assert stats.summary([1.0, 2.0, 3.0, 10.0])["median"] == 2.5


def test_summary_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        stats.summary([])


def test_value_verdict_rests_on_the_median_only():
    # The best round meets the goal, the median does not: not met.
    assert stats.value_verdict(stats.summary([0.5, 1.5, 1.6, 1.7, 1.8]), 1.0) == stats.NOT_MET
    assert stats.value_verdict(stats.summary([0.5, 0.6, 0.9, 3.0, 9.0]), 1.0) == stats.MET
    higher = stats.summary([30.0, 10.0, 25.0])
    assert stats.value_verdict(higher, 20.0, at_most=False) == stats.MET


def test_ratio_verdict_compares_the_medians():
    api = stats.summary([2000.0, 2100.0, 5000.0])
    serve = stats.summary([100.0, 110.0, 20.0])
    assert stats.ratio(api, serve) == pytest.approx(2100 / 100)
    assert stats.ratio_verdict(api, serve, 20.0) == stats.MET
    assert stats.ratio_verdict(api, serve, 25.0) == stats.NOT_MET
    small = stats.summary([300.0, 310.0, 320.0])
    big = stats.summary([600.0, 620.0, 640.0])
    assert stats.ratio_verdict(small, big, 0.5, at_most=True) == stats.MET
    assert stats.ratio_verdict(big, small, 0.5, at_most=True) == stats.NOT_MET


def test_cost_within_noise_when_the_ranges_overlap():
    off = stats.summary([100.0, 104.0, 98.0, 101.0, 103.0])
    on = stats.summary([103.0, 108.0, 104.0, 106.0, 105.0])  # 103 ≤ off's max 104
    assert stats.overlap(on, off)
    assert stats.cost_verdict(on, off, 10.0) == stats.WITHIN_NOISE
    assert stats.cost_verdict(on, off, None) == stats.WITHIN_NOISE


def test_cost_met_or_not_on_the_medians_when_the_ranges_are_apart():
    off = stats.summary([100.0, 101.0, 102.0, 100.5, 101.5])
    on = stats.summary([106.0, 107.0, 108.0, 106.5, 107.5])
    assert not stats.overlap(on, off)
    assert stats.change_pct(on, off) == pytest.approx(100 * (107 / 101 - 1))
    assert stats.cost_verdict(on, off, 10.0) == stats.MET
    assert stats.cost_verdict(on, off, 5.0) == stats.NOT_MET
    assert stats.cost_verdict(on, off, None) == stats.OUTSIDE_NOISE


def test_percentile_is_the_nearest_rank():
    values = list(range(1, 11))  # 1..10
    assert stats.percentile(values, 50) in (5, 6)
    assert stats.percentile(values, 95) == 10
    assert stats.percentile(values, 0) == 1
    assert stats.percentile([0.3], 99) == 0.3


def test_fmt_writes_median_then_range():
    assert stats.fmt(stats.summary([1.0, 2.0, 4.0]), "ms") == "2.00 (1.00–4.00) ms"
    assert stats.fmt(stats.summary([1500.0, 900.0, 2500.0])) == "1,500 (900–2,500)"


def test_numbers_are_written_by_size():
    assert [stats.num(x) for x in (12345.6, 45.67, 4.567, 0.4567)] == [
        "12,346",
        "45.7",
        "4.57",
        "0.457",
    ]
    assert stats.num(None) == "n/a" and stats.num(float("nan")) == "n/a"
