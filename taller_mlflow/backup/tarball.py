"""The archive: one .tar.gz of a staging folder (manifest, dumps, objects), written to a temporary
name and renamed, so a failed backup never leaves a half archive under the name asked for; read
back with tarfile's "data" filter (no absolute paths, no links out, no devices)."""

import os
import tarfile
from pathlib import Path

from taller_mlflow.backup.inventory import BackupError


def pack(folder: Path, archive: Path) -> None:
    partial = archive.with_name(f".{archive.name}.partial")
    try:
        with tarfile.open(partial, "w:gz") as tar:
            for entry in sorted(folder.iterdir()):
                tar.add(entry, arcname=entry.name)
        os.replace(partial, archive)
    finally:
        partial.unlink(missing_ok=True)


def unpack(archive: Path, folder: Path) -> None:
    if not archive.is_file():
        raise BackupError(f"no such backup file: {archive}")
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(folder, filter="data")
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        why = "not a tar.gz file" if isinstance(exc, tarfile.ReadError) else str(exc)
        raise BackupError(f"{archive} is not a readable backup archive ({why})") from None
