"""SQLite stores (`make run`'s MLflow database and prediction log): copied with SQLite's online
backup API, page by page under SQLite's own locking, so a server writing meanwhile leaves a
consistent copy, never a torn file."""

import contextlib
import sqlite3
from pathlib import Path

from taller_mlflow.backup.inventory import BackupError


def copy(source: Path, target: Path) -> None:
    """The online backup of `source` into `target` (replaced if it exists)."""
    try:
        with (
            contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
            contextlib.closing(sqlite3.connect(target)) as dst,
        ):
            src.backup(dst)
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup of {source} into {target} failed: {exc}") from None


def counts(path: Path, tables: dict[str, str]) -> dict[str, int]:
    """count name -> rows of its table; 0 where the file or the table does not exist."""
    found = dict.fromkeys(tables, 0)
    if not path.is_file():
        return found
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            present = {
                row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            for name, table in tables.items():
                if table in present:
                    found[name] = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    except sqlite3.Error as exc:
        raise BackupError(f"cannot read {path}: {exc}") from None
    return found
