"""The shipped package (copied whole into the API and Jupyter images) carries no test harness."""

import re

from taller_mlflow.local.servers import ROOT

HARNESS = re.compile(r"\bmoto\b|CREATE DATABASE|DROP DATABASE|^\s*(from|import) tests\b", re.M)


def test_taller_mlflow_has_no_s3_stand_in_throwaway_databases_or_test_imports():
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for path in sorted((ROOT / "taller_mlflow").rglob("*.py"))
        for match in HARNESS.finditer(path.read_text())
    ]
    assert not found, found
