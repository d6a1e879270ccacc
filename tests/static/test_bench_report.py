"""The benchmark's figures in README.md and docs/ are the ones bench/results/*.json holds: the
Markdown regenerated from the committed JSON must equal what is committed (`make bench-report`
rewrites it). And bench/ stands alone: it imports nothing from tests/, and its results folder
holds one JSON per phase (only the latest run of each), each saying where it ran."""

import ast
import json

from bench import RESULTS, ROOT, report_md


def test_readme_and_docs_agree_with_the_bench_results():
    stale = [str(p.relative_to(ROOT)) for p in report_md.stale()]
    assert not stale, f"out of date with bench/results/*.json: {stale}; run `make bench-report`"


def test_bench_imports_nothing_from_tests():
    offenders = []
    for path in sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "tests"]
    assert not offenders, offenders


def test_results_hold_the_latest_run_of_each_phase_with_its_machine_and_commit():
    allowed = {f"{name}.json" for name in report_md.PHASES} | {"load.html"}
    files = {p.name for p in RESULTS.iterdir() if p.is_file()}
    assert files <= allowed, f"stale or unknown files in bench/results: {sorted(files - allowed)}"
    for name in sorted(files - {"load.html"}):
        res = json.loads((RESULTS / name).read_text())
        meta = res["meta"]
        assert meta["machine"]["cpu_model"] and meta["machine"]["logical_cores"], name
        assert len(res["loadavg_before"]) == 3 and len(res["loadavg_after"]) == 3, name
        assert len(meta["api_checkout"]["commit"]) == 40, name
        assert len(meta["bench_commit"]["commit"]) == 40, name
        assert not meta["smoke"], f"{name}: a smoke run's results are no verdict"
        for target in res["targets"]:
            assert target["measured"]["n"] >= 5, (name, target["id"])
