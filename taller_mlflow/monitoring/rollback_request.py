"""The quality check's request for an auto-rollback: the promotion command in a child process.

The monitoring layer sits below promotion (tests/static/test_layout.py), so it asks the public
command, `python -m taller_mlflow.promote --auto-rollback VERSION --evidence JSON`, which applies
the bounds (taller_mlflow/promotion/autorollback.py) and runs the existing rollback under the
promotion lease. A child process costs a few seconds, and only when the alarm's condition holds.
"""

import json
import subprocess
import sys

TIMEOUT_SECONDS = 300  # the lease waits for a running promotion; a rollback itself takes seconds


def request_rollback(settings, name: str, version: str, evidence: dict) -> str:
    """The command's last line: what it did, or why it did not."""
    command = [
        sys.executable,
        "-m",
        "taller_mlflow.promote",
        "--auto-rollback",
        version,
        "--evidence",
        json.dumps(evidence, sort_keys=True),
        "--model",
        name,
        "--tracking-uri",
        settings.mlflow_tracking_uri,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return f"auto-rollback: no answer within {TIMEOUT_SECONDS} s"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[-1] if lines else f"auto-rollback: exit {done.returncode}"
