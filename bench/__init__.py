"""`python -m bench`: the API as a black box over HTTP against `mlflow models serve`, in-process
scikit-learn and plain GridSearchCV, every verdict on the median of interleaved rounds.

stats: rounds, summaries, verdicts; harness: cores, the tracking stack, the servers, CPU and RSS
of a process tree, the machine; wrk: the load generator; bodies: the request bodies; one module
per phase (training, startup, serving, batch, health, logcost, promotion); results: one JSON per
phase in bench/results/; report_md: docs/benchmark.md and the README block from those JSON files.
bench imports nothing from tests/.
"""

import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: `python -m bench` runs here
MODEL = "modelo_penguins"
RESULTS = ROOT / "bench" / "results"
# make bench's phases, in the order they run and are reported (bench/README.md)
PHASES = (
    "training",
    "startup",
    "serving",
    "batch",
    "health",
    "logcost",
    "shadow",
    "swaps",
    "drift",
)

# The seed's /predict body: one penguin, served by the model's default alias.
SEED_PENGUIN = {
    "island": "Torgersen",
    "culmen_length_mm": 39.1,
    "culmen_depth_mm": 18.7,
    "flipper_length_mm": 181,
    "body_mass_g": 3750,
    "sex": "MALE",
}
SEED_BODY = {**SEED_PENGUIN, "model": MODEL}


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)
