"""bench/results.py's targets and bench/report_md.py's text, from made-up rounds (no server)."""

import json

import pytest

from bench import bodies, report_md, results, stats
from bench.train_child import PLAIN_STAGES, stages


def side(label, unit, values):
    return results.side(label, unit, values)


def test_ratio_target_records_both_sides_and_the_ratio_of_medians():
    t = results.ratio_target(
        "x",
        "api vs serve",
        side("api", "req/s", [2000, 2500, 2400, 2600, 2300]),
        side("serve", "req/s", [100, 110, 90, 120, 105]),
        20.0,
    )
    assert t["result"] == pytest.approx(2400 / 105)
    assert t["goal"] == "≥ 20×"
    assert t["verdict"] == stats.MET
    assert t["measured"]["values"] == [2000, 2500, 2400, 2600, 2300]


def test_value_target_keeps_its_reference_beside_it():
    t = results.value_target(
        "s",
        "first prediction",
        side("api", "s", [0.8, 0.9, 1.2, 0.7, 0.95]),
        1.0,
        reference=side("serve", "s", [7, 8, 9, 8, 7]),
    )
    assert t["verdict"] == stats.MET and t["result"] == 0.9
    assert t["reference"]["median"] == 8
    assert t["goal"] == "≤ 1 s"


def test_cost_target_is_within_noise_on_overlapping_rounds():
    t = results.cost_target(
        "c",
        "log",
        side("on", "µs", [210, 220, 205, 215, 230]),
        side("off", "µs", [200, 212, 199, 204, 208]),
        10.0,
    )
    assert t["verdict"] == stats.WITHIN_NOISE
    assert t["result"] == pytest.approx(100 * (215 / 204 - 1))
    assert t["median_meets_goal"] is True
    assert report_md.verdict_text(t) == "within noise"
    over = results.cost_target(
        "c",
        "log",
        side("on", "µs", [300, 310, 190, 320, 330]),
        side("off", "µs", [200, 212, 199, 204, 350]),
        10.0,
    )
    assert over["verdict"] == stats.WITHIN_NOISE and over["median_meets_goal"] is False
    assert report_md.verdict_text(over) == "within noise (the median is over the goal)"


def fake_results() -> dict:
    meta = {
        "machine": {
            "cpu_model": "Test CPU",
            "logical_cores": 2,
            "physical_cores": 1,
            "ram_gib": 24.0,
            "os": "Linux",
            "python": "3.11",
        },
        "bench_commit": {"path": "/r", "commit": "a" * 40, "dirty": False},
        "api_checkout": {"path": "/r", "commit": "a" * 40, "dirty": True},
        "cores": {
            "load_generator_cores": [0],
            "server_cores": [1],
            "all_cores": [0, 1],
            "note": "pinned",
        },
        "versions": {"mlflow": "3"},
        "settings": {"rounds": 5},
        "smoke": False,
    }
    cell = {
        "req_s": 2000.0,
        "p50_ms": 0.4,
        "p99_ms": 2.0,
        "cpu_us_per_request": 300.0,
        "rss_mib": 100.0,
        "errors": 0,
    }
    serve = {**cell, "req_s": 100.0, "rss_mib": 500.0}
    runs = {
        "api_c16": [cell] * 5,
        "serve_c16": [serve] * 5,
        "api_c1": [cell] * 5,
        "serve_c1": [serve] * 5,
    }
    target = results.ratio_target(
        "predict_c16_vs_serve_1v1",
        "/predict vs serve",
        side("API", "req/s", [2000.0] * 5),
        side("serve", "req/s", [100.0] * 5),
        20.0,
    )
    serving = {
        "bench": "serving",
        "started_at": "2030-01-02 03:04:05 UTC",
        "wall_s": 100.0,
        "loadavg_before": [0.1, 0.2, 0.3],
        "loadavg_after": [1.0, 0.5, 0.4],
        "meta": meta,
        "targets": [target],
        "data": {"1v1": {"runs": runs}, "2v2": {"runs": runs}},
    }
    return {"serving": json.loads(json.dumps(serving))}


def test_readme_block_is_one_table_row_per_target_with_median_and_range():
    text = report_md.readme_block(fake_results())
    assert "Test CPU, 2 cores (wrk on core 0, the servers on core 1)" in text
    assert "`aaaaaaaaaa` + uncommitted changes" in text
    row = next(line for line in text.splitlines() if line.startswith("| /predict vs serve"))
    assert "2,000 (2,000–2,000) req/s" in row and "100 (100–100) req/s" in row
    assert "| 20.0× | ≥ 20× | met |" in row


def test_scaling_block_sizes_pods_from_one_worker_on_one_core():
    text = report_md.scaling_block(fake_results())
    assert "**2,000 one-row req/s**" in text
    assert "about **1,400 one-row req/s per pod**" in text  # 70% of a core
    assert "| 10,000 req/s | 8 | within the HPA's 3–20 |" in text
    assert "| 100,000 req/s | 72 | raise `maxReplicas`" in text


def test_blocks_replace_only_what_is_between_the_markers(tmp_path):
    path = tmp_path / "x.md"
    text = f"before\n{report_md.START}\nold\n{report_md.END}\nafter\n"
    new = report_md.replace_block(text, "new", path)
    assert new == f"before\n{report_md.START}\n{report_md.GENERATED}\nnew\n{report_md.END}\nafter\n"
    assert report_md.replace_block(new, "new", path) == new  # idempotent
    with pytest.raises(SystemExit):
        report_md.replace_block("no markers", "new", path)


def test_a_stage_that_was_not_cut_goes_to_the_next():
    marks = {"imported": 2.0, "search_end": 9.0, "done": 14.0}  # no search_start mark
    out = stages(0.0, marks, PLAIN_STAGES)
    assert out["imports"] == 2.0 and out["data and setup"] is None
    assert out["search"] == 7.0  # imported → search_end: the setup's time included
    assert out["test prediction"] == 5.0
    assert sum(v for v in out.values() if v is not None) == 14.0


def test_v2_binary_body_holds_every_row_as_its_header_says():
    import struct

    body, headers = bodies.v2_binary(3)
    n = int(headers["Inference-Header-Content-Length"])
    header = json.loads(body[:n])
    offset, blob = 0, body[n:]
    rows = bodies.rows(3)
    for tensor in header["inputs"]:
        size = tensor["parameters"]["binary_data_size"]
        raw = blob[offset : offset + size]
        offset += size
        if tensor["datatype"] == "FP64":
            assert list(struct.unpack("<3d", raw)) == [float(r[tensor["name"]]) for r in rows]
        else:
            (first_len,) = struct.unpack_from("<I", raw)
            assert raw[4 : 4 + first_len].decode() == rows[0][tensor["name"]]
    assert offset == len(blob)
    assert bodies.predict(1) == {**rows[0], "model": "modelo_penguins"}
