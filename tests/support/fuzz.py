"""Run schemathesis against the API's OpenAPI spec and tally what came back."""

import base64
import collections
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class FuzzReport:
    cases: int
    statuses: collections.Counter
    operations: set
    four_xx_without_message: list
    server_error_requests: list

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def _decode(blob: dict | None) -> bytes:
    return base64.b64decode(blob["$base64"]) if blob and "$base64" in blob else b""


# Where each protocol puts its one-line error: /predict and the API's own routes in `detail`,
# MLflow's scoring protocol in `message`, the Open Inference Protocol in `error`.
MESSAGE_KEYS = ("detail", "message", "error")


def _error_message(response: dict) -> str | None:
    try:
        body = json.loads(_decode(response.get("content")))
    except ValueError:
        return None
    found = [body.get(k) for k in MESSAGE_KEYS] if isinstance(body, dict) else []
    return next((m for m in found if isinstance(m, str) and m), None)


def fuzz(base_url: str, max_examples: int, report_dir: Path, seed: int = 20261126) -> FuzzReport:
    exe = Path(sys.executable).with_name("st")
    subprocess.run(
        [str(exe), "run", f"{base_url}/openapi.json", "--checks", "not_a_server_error",
         "--max-examples", str(max_examples), "--seed", str(seed), "--no-shrink",
         "--report", "ndjson", "--report-dir", str(report_dir), "--request-timeout", "30"],
        capture_output=True, text=True, timeout=1800, check=False, cwd=report_dir,
    )  # fmt: skip
    statuses: collections.Counter = collections.Counter()
    operations, bad, server_errors = set(), [], []
    for path in report_dir.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if not finished:
                continue
            for interaction in finished.get("recorder", {}).get("interactions", {}).values():
                response = interaction.get("response")
                if response is None:
                    statuses[-1] += 1  # no response at all: a crash or a timeout
                    continue
                status = response["status_code"]
                statuses[status] += 1
                request = interaction["request"]
                operations.add((request["method"], request["uri"].split("?")[0].rsplit(":", 1)[-1]))
                if status >= 500:
                    body = _decode(request.get("body"))[:300]
                    server_errors.append((request["method"], request["uri"], status, body))
                if 400 <= status < 500 and not _error_message(response):
                    bad.append((request["method"], request["uri"], status))
    return FuzzReport(sum(statuses.values()), statuses, operations, bad, server_errors)
