"""How often each challenger version agreed with production, for /listar_modelos (this worker's
counts since it started) and Prometheus (`api_shadow_rows_total{model,challenger_version,agrees}`,
every worker's)."""

import threading
from dataclasses import dataclass, field

from taller_mlflow.serving.metrics import SHADOW_ROWS


@dataclass
class Agreement:
    rows: int = 0
    agreed: int = 0
    against: set = field(default_factory=set)

    def describe(self) -> dict:
        return {
            "rows": self.rows,
            "agreed": self.agreed,
            "agreement_rate": round(self.agreed / self.rows, 6) if self.rows else None,
            "against_versions": sorted(self.against, key=lambda v: (len(v), v)),
        }


class AgreementBook:
    def __init__(self):
        self._stats: dict[tuple[str, str], Agreement] = {}
        self._lock = threading.Lock()

    def count(self, name: str, version: str, events: list, agrees: list[bool]) -> None:
        """A batch's agreement: `agrees` is row aligned with the events' rows, in order."""
        against: dict[str, list[int]] = {}  # production version -> [rows, agreed]
        start = 0
        for event in events:
            end = start + event.rows
            counts = against.setdefault(event.model_version, [0, 0])
            counts[0] += event.rows
            counts[1] += sum(agrees[start:end])
            start = end
        with self._lock:
            stats = self._stats.setdefault((name, version), Agreement())
            for production_version, (rows, agreed) in against.items():
                stats.rows += rows
                stats.agreed += agreed
                stats.against.add(production_version)
        agreed = sum(agrees)
        if agreed:
            SHADOW_ROWS.labels(name, version, "true").inc(agreed)
        if len(agrees) - agreed:
            SHADOW_ROWS.labels(name, version, "false").inc(len(agrees) - agreed)

    def describe(self) -> dict[tuple[str, str], dict]:
        with self._lock:
            return {key: a.describe() for key, a in self._stats.items()}
