"""Locust against a running API (`make load`: `make run`'s on http://127.0.0.1:8989 by default).

The mix, per user, back to back: the seed's /predict body (one penguin), a 100-row
/invocations `dataframe_split` batch and /listar_modelos, weighted 10 : 3 : 1. At the end it
prints the failure count, and the exit code is 1 when any request failed.

    make load                                       # 60 s, 16 users, report in bench/results/load.html
    make load LOAD_URL=http://host:8989 LOAD_SECONDS=300 LOAD_USERS=32
    .venv/bin/locust -f bench/locustfile.py --host http://127.0.0.1:8989   # the web UI

It imports nothing from the project: Locust may run from anywhere the file is.
"""

import csv
from pathlib import Path

from locust import HttpUser, constant, events, task

SEED = {
    "island": "Torgersen",
    "culmen_length_mm": 39.1,
    "culmen_depth_mm": 18.7,
    "flipper_length_mm": 181,
    "body_mass_g": 3750,
    "sex": "MALE",
    "model": "modelo_penguins",
}
FEATURES = [
    "island",
    "sex",
    "culmen_length_mm",
    "culmen_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
]
NUMERIC = FEATURES[2:]
CSV = Path(__file__).resolve().parent.parent / "taller_mlflow" / "penguins_size.csv"
BATCH_ROWS = 100


def complete_rows() -> list[list]:
    """The CSV's complete penguins as dataframe_split rows (the seed's when the CSV is absent)."""
    rows = []
    if CSV.exists():
        with CSV.open(newline="") as fh:
            for rec in csv.DictReader(fh):
                values = {c: (rec.get(c) or "").strip() for c in FEATURES}
                if any(v in ("", "NA", ".") for v in values.values()):
                    continue
                rows.append(
                    [values["island"], values["sex"].upper()] + [float(values[c]) for c in NUMERIC]
                )
    return rows or [[SEED[c] for c in FEATURES]]


POOL = complete_rows()
BATCH = {
    "dataframe_split": {
        "columns": FEATURES,
        "data": [POOL[i % len(POOL)] for i in range(BATCH_ROWS)],
    }
}


class ApiUser(HttpUser):
    wait_time = constant(0)

    @task(10)
    def predict(self) -> None:
        self.client.post("/predict", json=SEED)

    @task(3)
    def invocations(self) -> None:
        self.client.post("/invocations", json=BATCH, name="/invocations (100 rows)")

    @task(1)
    def listar_modelos(self) -> None:
        self.client.get("/listar_modelos")


@events.quitting.add_listener
def _failures(environment, **_kwargs) -> None:
    total = environment.stats.total
    print(f"locust: {total.num_requests} requests, {total.num_failures} failures")
    if total.num_failures > 0:
        environment.process_exit_code = 1
