"""The manifest: what an archive holds (counts and sha256 checksums), and the checks on it.

Counts are read with SQL from MLflow's tables and the prediction log, the same on PostgreSQL
(through psql, see pg_store) and SQLite; `objects` is the number of artifact objects copied.
"""

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

FORMAT = 1
NAME = "manifest.json"
# count name -> table; a table the database does not have counts 0 (an empty store).
MLFLOW_TABLES = {
    "experiments": "experiments",
    "runs": "runs",
    "registered_models": "registered_models",
    "model_versions": "model_versions",
    "aliases": "registered_model_aliases",
    "version_tags": "model_version_tags",
}
LOG_TABLES = {"prediction_log_rows": "prediction_log"}
# What makes a target "not empty": restore refuses it unless --force. Not experiments nor
# registered models: MLflow creates experiment 0 ("Default") in every new database, and the
# stack's mlflow-init creates the training experiment and the registered model on every `up`.
OCCUPYING = ("runs", "model_versions", "prediction_log_rows", "objects")


class BackupError(Exception):
    """A problem said in one line (bad input, a refused target, a failed tool): exit 1."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build(layout: str, counts: dict, files: dict[str, str], objects: dict[str, dict]) -> dict:
    """files: archive path -> sha256 of each dump; objects: key -> {"sha256", "size"}."""
    return {
        "format": FORMAT,
        "layout": layout,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "counts": {**counts, "objects": len(objects)},
        "files": files,
        "objects": objects,
    }


def write(manifest: dict, folder: Path) -> None:
    (folder / NAME).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def read(folder: Path) -> dict:
    path = folder / NAME
    if not path.is_file():
        raise BackupError(f"the archive holds no {NAME}: not a backup made by this tool")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise BackupError(f"{NAME} in the archive is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{NAME} is not format {FORMAT}: made by another version of this tool?")
    parts = [manifest.get(key) for key in ("counts", "files", "objects")]
    objects = manifest.get("objects") or {}
    if not all(isinstance(part, dict) for part in parts) or not all(
        isinstance(meta, dict) and isinstance(meta.get("sha256"), str) for meta in objects.values()
    ):
        raise BackupError(f"{NAME} lacks its counts, files or objects, or one has no sha256")
    return manifest


def verify_files(manifest: dict, folder: Path, object_dir: str) -> None:
    """Every dump and object the manifest lists is in the extracted archive with its checksum."""
    expected = dict(manifest.get("files", {}))
    for key, meta in manifest.get("objects", {}).items():
        expected[f"{object_dir}/{key}"] = meta["sha256"]
    for name, digest in sorted(expected.items()):
        path = folder / name
        if not path.is_file():
            raise BackupError(f"the archive lacks {name}, which its manifest lists")
        if sha256_file(path) != digest:
            raise BackupError(f"{name} in the archive does not match its sha256 in the manifest")


def occupied(counts: dict) -> list[str]:
    """What the target already holds, e.g. ["runs=3", "objects=12"]; empty when it is empty."""
    return [f"{name}={counts[name]}" for name in OCCUPYING if counts.get(name)]


def mismatches(expected: dict, found: dict) -> list[str]:
    """Every count of the manifest the restored stores do not have, e.g. "runs: 3 != 2"."""
    return [
        f"{name}: expected {want}, found {found.get(name)}"
        for name, want in sorted(expected.items())
        if found.get(name) != want
    ]
