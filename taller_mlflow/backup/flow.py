"""Backup and restore, in the order that keeps the three stores consistent.

Backup dumps the databases FIRST, each in one snapshot (pg_dump; SQLite's online backup), and
copies the artifact store AFTER. MLflow writes a model's artifacts before it creates the version's
row, and the promotion gate logs the serving artifact before it sets the version's
`serving.sha256` tag, so every object a dumped row refers to was in the store before the dump, and
is in the copy. A version registered meanwhile is either in the dump, with its artifacts, or not
in the dump at all: its objects, copied or not, are then orphans no row refers to, harmless, and
kept (a prune would have to know every MLflow artifact layout to be safe).

Restore checks the archive first (manifest, every checksum), then refuses a target that already
holds runs, versions, logged predictions or objects unless `force`, then restores the databases,
then the objects, and at the end compares the target's counts with the manifest's.
"""

import tempfile
from collections.abc import Callable
from pathlib import Path

from taller_mlflow.backup import inventory, tarball
from taller_mlflow.backup.inventory import BackupError, sha256_file
from taller_mlflow.backup.stores import OBJECT_DIR


def backup(stores, archive: Path, say=print, after_dump: Callable[[], None] | None = None) -> dict:
    """Write `archive` (a .tar.gz) from `stores`; return its manifest. `after_dump` runs between
    the databases' dump and the objects' copy (the tests register a version there)."""
    archive = Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=archive.parent, prefix=".backup-") as tmp:
        staging = Path(tmp)
        dumped = stores.dump(staging)
        counts = {name: n for found in dumped.values() for name, n in found.items()}
        files = {name: sha256_file(staging / name) for name in dumped}
        say(f"dumped {', '.join(dumped)}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
        if after_dump:
            after_dump()
        objects = stores.objects.download(staging / OBJECT_DIR)
        say(f"copied {len(objects)} objects from {stores.objects.where}")
        manifest = inventory.build(stores.layout, counts, files, objects)
        inventory.write(manifest, staging)
        tarball.pack(staging, archive)
    say(f"wrote {archive}")
    return manifest


def target_counts(stores, keys: set[str] | None = None) -> dict[str, int]:
    """What `stores` hold: the databases' counts, and its objects (only those in `keys`)."""
    present = set(stores.objects.keys())
    return {**stores.counts(), "objects": len(present if keys is None else present & keys)}


def restore(stores, archive: Path, force: bool = False, say=print) -> dict:
    """Restore `archive` into `stores`; return the counts found afterwards."""
    with tempfile.TemporaryDirectory(prefix="taller-restore-") as tmp:
        staging = Path(tmp)
        tarball.unpack(Path(archive), staging)
        manifest = inventory.read(staging)
        if manifest.get("layout") != stores.layout:
            raise BackupError(
                f"{archive} is a backup of a {manifest.get('layout')!r} layout, and the target "
                f"is {stores.layout!r} (--local for make run's folder, none for the stack)"
            )
        inventory.verify_files(manifest, staging, OBJECT_DIR)
        held = inventory.occupied(target_counts(stores))
        if held and not force:
            raise BackupError(
                f"the target is not empty ({', '.join(held)}): restore into an empty stack, or "
                "pass --force to overwrite its databases and add the objects"
            )
        stores.restore(staging, list(manifest["files"]))
        say(f"restored {', '.join(manifest['files'])}")
        stores.objects.upload(staging / OBJECT_DIR, sorted(manifest["objects"]))
        say(f"restored {len(manifest['objects'])} objects into {stores.objects.where}")
    found = target_counts(stores, set(manifest["objects"]))
    expected = {k: v for k, v in manifest["counts"].items()}
    wrong = inventory.mismatches(expected, found)
    if wrong:
        raise BackupError("restored, but the counts differ from the manifest: " + "; ".join(wrong))
    say("counts match the manifest: " + ", ".join(f"{k}={v}" for k, v in sorted(found.items())))
    return found
