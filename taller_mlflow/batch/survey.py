"""A made-up field survey to score: real penguins resampled with a little noise, a chosen share
of them spoiled the ways a survey spoils rows, written to a table with an integer `id`.

    python -m taller_mlflow.batch.survey --data-url URL --table penguins_new --rows 100000

The batch scoring's tests and benchmark score such tables; the workshop can too.
"""

import argparse
import sys

import numpy as np
import sqlalchemy as sa

from taller_mlflow.penguins import CATEGORICAL, FEATURES, NUMERIC, clean, read_csv

# One per bad row, in turn: each breaks one of /predict's rules.
SPOILERS = [
    ("island", None),
    ("island", "Atlantis"),
    ("sex", "unknown"),
    ("body_mass_g", None),
    ("body_mass_g", 25_000.0),
    ("culmen_depth_mm", -3.0),
]


def survey(rows: int, bad_share: float = 0.0, seed: int = 0) -> tuple[list[dict], list[int]]:
    """(rows as dicts with `id` from 1, the ids of the spoiled ones)."""
    rng = np.random.default_rng(seed)
    real = clean(read_csv()).frame
    picks = rng.integers(0, len(real), rows)
    data = {c: real[c].to_numpy(dtype=object)[picks] for c in CATEGORICAL}
    for c in NUMERIC:
        values = real[c].to_numpy(dtype=np.float64)[picks]
        data[c] = np.round(values * rng.normal(1.0, 0.02, rows), 1)
    out = [
        {
            "id": i + 1,
            **{c: data[c][i] for c in CATEGORICAL},
            **{c: float(data[c][i]) for c in NUMERIC},
        }
        for i in range(rows)
    ]
    spoiled = sorted(rng.choice(rows, int(round(rows * bad_share)), replace=False).tolist())
    for turn, index in enumerate(spoiled):
        column, value = SPOILERS[turn % len(SPOILERS)]
        out[index][column] = value
    return out, [i + 1 for i in spoiled]


def input_table(name: str) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        *(sa.Column(c, sa.String(32)) for c in CATEGORICAL),
        *(sa.Column(c, sa.Float) for c in NUMERIC),
    )


def write(url: str, table: str, rows: list[dict], chunk: int = 20_000) -> None:
    """The rows into a new table `table` (an existing one is replaced)."""
    engine = sa.create_engine(url)
    t = input_table(table)
    t.metadata.drop_all(engine, checkfirst=True)
    t.metadata.create_all(engine)
    with engine.begin() as conn:
        for start in range(0, len(rows), chunk):
            conn.execute(sa.insert(t), rows[start : start + chunk])
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m taller_mlflow.batch.survey", description=__doc__)
    p.add_argument("--data-url", required=True)
    p.add_argument("--table", default="penguins_new")
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--bad-share", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rows, spoiled = survey(args.rows, args.bad_share, args.seed)
    write(args.data_url, args.table, rows)
    print(
        f"{len(rows)} rows into {args.table}, {len(spoiled)} spoiled; columns {', '.join(FEATURES)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
