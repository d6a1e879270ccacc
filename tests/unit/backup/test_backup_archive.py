"""taller_mlflow.backup in process: the manifest's checks, the refusal of a non-empty target, the
count check after a restore, the order of dump and copy, and the command's one-line errors. The
stores are fakes (files in a folder); `make run`'s SQLite layout is real (SQLite needs no server).
"""

import json
import sqlite3
import tarfile
from pathlib import Path

import pytest

from taller_mlflow.backup import flow, inventory
from taller_mlflow.backup.__main__ import main
from taller_mlflow.backup.bucket_copy import LocalFolder
from taller_mlflow.backup.inventory import BackupError
from taller_mlflow.backup.stores import RunFolder


class FakeStores:
    """A stack whose databases are JSON files of counts and whose bucket is a folder."""

    layout = "postgres"

    def __init__(self, root: Path, counts=None, objects=None):
        root.mkdir(parents=True, exist_ok=True)
        self.db = root / "db.json"
        self.db.write_text(json.dumps(counts or {}))
        self.objects = LocalFolder(root / "bucket")
        for key, data in (objects or {}).items():
            path = root / "bucket" / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self.events: list[str] = []
        self.restore_offset = 0  # a restore that loses rows

    def dump(self, folder: Path) -> dict:
        self.events.append("dump")
        (folder / "databases").mkdir()
        (folder / "databases/mlflow.dump").write_text(self.db.read_text())
        return {"databases/mlflow.dump": json.loads(self.db.read_text())}

    def restore(self, folder: Path, names) -> None:
        counts = json.loads((folder / names[0]).read_text())
        counts = {k: v - self.restore_offset for k, v in counts.items()}
        self.db.write_text(json.dumps(counts))

    def counts(self) -> dict:
        return json.loads(self.db.read_text())


SOURCE = {"runs": 3, "model_versions": 2, "aliases": 1, "prediction_log_rows": 40}
OBJECTS = {"1/abc/artifacts/model/MLmodel": b"flavors: {}\n", "1/abc/artifacts/model.pkl": b"\0"}


@pytest.fixture
def archive(tmp_path) -> Path:
    source = FakeStores(tmp_path / "source", SOURCE, OBJECTS)
    path = tmp_path / "out" / "backup.tar.gz"
    flow.backup(source, path, say=lambda _: None)
    return path


def test_the_manifest_holds_counts_and_checksums(archive, tmp_path):
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["counts"] == {**SOURCE, "objects": 2}
    assert manifest["layout"] == "postgres"
    assert set(manifest["files"]) == {"databases/mlflow.dump"}
    key = "1/abc/artifacts/model/MLmodel"
    assert manifest["objects"][key] == {
        "sha256": inventory.hashlib.sha256(OBJECTS[key]).hexdigest(),
        "size": len(OBJECTS[key]),
    }


def test_the_databases_are_dumped_before_the_objects_are_copied(tmp_path):
    source = FakeStores(tmp_path / "source", SOURCE, OBJECTS)
    seen = []
    source.objects.download = lambda folder, real=source.objects.download: (
        seen.append(list(source.events)) or real(folder)
    )
    flow.backup(
        source, tmp_path / "b.tar.gz", say=lambda _: None, after_dump=lambda: seen.append("hook")
    )
    assert seen == ["hook", ["dump"]]


def test_restore_into_an_empty_target_checks_the_counts(archive, tmp_path):
    target = FakeStores(tmp_path / "target")
    found = flow.restore(target, archive, say=lambda _: None)
    assert found == {**SOURCE, "objects": 2}
    assert (tmp_path / "target/bucket/1/abc/artifacts/model.pkl").read_bytes() == b"\0"


@pytest.mark.parametrize(
    "counts, objects, held",
    [
        ({"runs": 1}, {}, "runs=1"),
        ({"model_versions": 4}, {}, "model_versions=4"),
        ({"prediction_log_rows": 7}, {}, "prediction_log_rows=7"),
        ({}, {"x/y": b"1"}, "objects=1"),
    ],
)
def test_restore_refuses_a_target_that_holds_anything(archive, tmp_path, counts, objects, held):
    target = FakeStores(tmp_path / "target", {"experiments": 1, **counts}, objects)
    with pytest.raises(BackupError, match=f"not empty \\({held}\\).*--force"):
        flow.restore(target, archive, say=lambda _: None)
    assert target.counts() == {"experiments": 1, **counts}  # untouched
    assert target.objects.keys() == sorted(objects)


def test_what_a_new_stack_creates_by_itself_does_not_count(archive, tmp_path):
    """MLflow's Default experiment, and mlflow-init's experiments and registered model."""
    target = FakeStores(tmp_path / "target", {"experiments": 3, "registered_models": 1})
    assert flow.restore(target, archive, say=lambda _: None)["runs"] == 3


def test_force_restores_over_a_non_empty_target(archive, tmp_path):
    target = FakeStores(tmp_path / "target", {"runs": 9}, {"other/key": b"kept"})
    found = flow.restore(target, archive, force=True, say=lambda _: None)
    assert found["runs"] == 3 and found["objects"] == 2
    assert (tmp_path / "target/bucket/other/key").read_bytes() == b"kept"  # never deleted


def test_a_restore_whose_counts_differ_fails(archive, tmp_path):
    target = FakeStores(tmp_path / "target")
    target.restore_offset = 1
    with pytest.raises(BackupError, match="runs: expected 3, found 2"):
        flow.restore(target, archive, say=lambda _: None)


def _rewrite(archive: Path, tmp_path: Path, change) -> Path:
    folder = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    change(folder)
    out = tmp_path / "changed.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        for entry in folder.iterdir():
            tar.add(entry, arcname=entry.name)
    return out


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: (f / "objects/1/abc/artifacts/model.pkl").write_bytes(b"x"), "does not match"),
        (lambda f: (f / "databases/mlflow.dump").unlink(), "lacks databases/mlflow.dump"),
        (lambda f: (f / "manifest.json").unlink(), "no manifest.json"),
        (lambda f: (f / "manifest.json").write_text("{"), "not valid JSON"),
        (lambda f: (f / "manifest.json").write_text('{"format": 99}'), "not format 1"),
        (lambda f: (f / "manifest.json").write_text('{"format": 1}'), "lacks its counts"),
    ],
)
def test_a_damaged_archive_is_refused_before_anything_is_touched(
    archive, tmp_path, change, message
):
    target = FakeStores(tmp_path / "target")
    with pytest.raises(BackupError, match=message):
        flow.restore(target, _rewrite(archive, tmp_path, change), say=lambda _: None)
    assert target.counts() == {} and target.objects.keys() == []


def test_an_object_key_leaving_the_folder_is_refused(tmp_path):
    from taller_mlflow.backup.bucket_copy import _safe_path

    for key in ["../etc/passwd", "/abs", "a/../../b"]:
        with pytest.raises(BackupError, match="outside"):
            _safe_path(tmp_path, key)


def test_the_command_says_what_is_wrong_in_one_line(tmp_path, capsys):
    assert main(["restore", str(tmp_path / "missing.tar.gz"), "--local", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "no such backup file" in err
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not an archive")
    assert main(["restore", str(bad), "--local", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "not a readable backup archive" in err
    assert main(["backup", str(tmp_path / "x.tar.gz"), "--local", str(tmp_path / "empty")]) == 1
    assert "no mlflow.db" in capsys.readouterr().err
    assert main(["backup", str(tmp_path / "x.tar.gz"), "--mlflow-db", "mysql://x/y"]) == 1
    assert "not a PostgreSQL database URL" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["copy", "x"])
    assert usage.value.code == 2


def _sqlite(path: Path, table: str, rows: int) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
        conn.executemany(f"INSERT INTO {table} VALUES (?)", [(i,) for i in range(rows)])
    conn.close()


def test_a_run_folder_round_trips_through_sqlites_online_backup(tmp_path):
    run = tmp_path / "run"
    (run / "artifacts/1/r/artifacts").mkdir(parents=True)
    (run / "artifacts/1/r/artifacts/MLmodel").write_text("m")
    _sqlite(run / "mlflow.db", "runs", 5)
    _sqlite(run / "monitoring.db", "prediction_log", 12)
    (run / "webhook_encryption.key").write_text("key")
    archive = tmp_path / "run.tar.gz"
    manifest = flow.backup(RunFolder(run), archive, say=lambda _: None)
    assert manifest["counts"]["runs"] == 5 and manifest["counts"]["prediction_log_rows"] == 12
    restored = tmp_path / "restored"
    found = flow.restore(RunFolder(restored), archive, say=lambda _: None)
    assert found == manifest["counts"]
    assert (restored / "webhook_encryption.key").read_text() == "key"
    assert (restored / "artifacts/1/r/artifacts/MLmodel").read_text() == "m"
    with pytest.raises(BackupError, match="not empty"):
        flow.restore(RunFolder(restored), archive, say=lambda _: None)
    with pytest.raises(BackupError, match="'local' layout"):
        flow.restore(FakeStores(tmp_path / "stack"), archive, say=lambda _: None)
