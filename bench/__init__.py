"""`python -m bench`: this project's API vs `mlflow models serve` vs in-process scikit-learn.

harness: the tracking stack, the servers, start-up and RSS; training: plain vs tracked training
timed in fresh processes (train_child); load: wrk cells and in-process cells; phases: one run,
target by target; report: verdicts, latest.md and latest.json; __main__: the command line.
"""

import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: `python -m bench` runs here
MODEL = "modelo_penguins"
BATCH = 1000  # rows per batch request


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)
