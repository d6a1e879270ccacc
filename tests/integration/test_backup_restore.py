"""`make backup` / `make restore` on real services: a real MLflow server on PostgreSQL with its
artifacts proxied to S3 (moto), a version @production with its serving artifact and tags, a
prediction log in PostgreSQL with rows; a backup (a version registered between the dump and the
copy of the bucket); a restore into a FRESH stack (new database, which the new MLflow server has
already filled with its tables, new bucket, new log database); then the same runs, versions,
aliases, tags, artifacts (sha256) and row count, and a second restore refused.
"""

import hashlib
import threading
from pathlib import Path

import mlflow
import pytest

from taller_mlflow.backup import flow
from taller_mlflow.backup.__main__ import main
from taller_mlflow.backup.inventory import BackupError
from taller_mlflow.backup.stores import StackStores
from tests.support import wait_for
from tests.support.backup_checks import artifact_sums, fill_log, log_rows, registry_state
from tests.support.promotion import MODEL, log_version, register_again, registry_client
from tests.support.services import (
    BUCKET,
    PG_URL_BASE,
    REGION,
    S3_KEYS,
    create_pg_database,
    drop_pg_database,
    start_stack,
)

LOG_ROWS = 37


@pytest.fixture
def s3_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_KEYS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_KEYS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def log_databases():
    names = [create_pg_database(prefix="monitoring_test") for _ in range(2)]
    yield [f"{PG_URL_BASE}/{name}" for name in names]
    for name in names:
        drop_pg_database(name)


def test_a_stack_round_trips_through_backup_and_restore(tmp_path, s3_env, log_databases):
    source = start_stack(tmp_path / "source")
    target = None
    try:
        version, _run = log_version(source)
        client = registry_client(source)
        client.set_registered_model_alias(MODEL, "production", version)
        client.set_model_version_tag(MODEL, version, "reviewed_by", "backup-test")
        fill_log(log_databases[0], LOG_ROWS)
        before = registry_state(client)
        sums = artifact_sums(source.tracking_uri, client, tmp_path / "before")
        assert any(":runs:/" in key for key in sums), sums  # the serving artifact is there

        late = []
        stores = StackStores(source.backend_store_uri, log_databases[0], BUCKET, source.s3_url)
        archive = tmp_path / "backups" / "stack.tar.gz"
        manifest = flow.backup(
            stores, archive, after_dump=lambda: late.append(log_version(source)[0])
        )
        assert manifest["counts"]["model_versions"] == 1
        assert manifest["counts"]["aliases"] == 1
        assert manifest["counts"]["prediction_log_rows"] == LOG_ROWS
        assert manifest["counts"]["objects"] == len(manifest["objects"]) > 0

        target = start_stack(tmp_path / "target")  # its server has created MLflow's tables
        restored = StackStores(target.backend_store_uri, log_databases[1], BUCKET, target.s3_url)
        flow.restore(restored, archive)
        target_client = registry_client(target)
        # The version registered during the backup (after the dump) is absent, not half there.
        assert late == ["2"] and "2" not in registry_state(target_client)["versions"]
        assert registry_state(target_client) == before
        assert target_client.get_model_version_by_alias(MODEL, "production").version == version
        assert artifact_sums(target.tracking_uri, target_client, tmp_path / "after") == sums
        assert log_rows(log_databases[1]) == LOG_ROWS

        with pytest.raises(BackupError, match=r"not empty \(runs="):
            flow.restore(restored, archive)
        args = ["restore", str(archive), "--mlflow-db", target.backend_store_uri]
        args += ["--s3-endpoint", target.s3_url]
        assert main(args) == 1
    finally:
        source.close()
        if target:
            target.close()


def test_versions_registered_throughout_a_backup_are_whole_or_absent(tmp_path, s3_env):
    """Versions registered and verified all the while a backup runs (each: registered, then its
    serving artifact logged, then its serving.sha256 tag, as the gate does): every version the
    restored stack has downloads whole, and every serving tag it has matches its graph."""
    source = start_stack(tmp_path / "source")
    target = None
    stop, registered, failures = threading.Event(), [], []

    def register_all_the_time():
        while not stop.is_set():
            try:
                registered.append(register_again(source, "1"))
            except Exception as exc:  # noqa: BLE001 - kept and reported by the test
                failures.append(repr(exc))
                return

    try:
        log_version(source)
        thread = threading.Thread(target=register_all_the_time, daemon=True)
        thread.start()
        assert wait_for(lambda: len(registered) >= 1, 120), failures
        started = len(registered)
        stores = StackStores(source.backend_store_uri, None, BUCKET, source.s3_url)
        archive = tmp_path / "racing.tar.gz"
        # one more version at least is registered between the dump and the copy
        manifest = flow.backup(
            stores, archive, after_dump=lambda: wait_for(lambda: len(registered) > started, 120)
        )
        stop.set()
        thread.join(120)
        assert not failures, failures
        assert manifest["counts"]["model_versions"] < 1 + len(registered)

        target = start_stack(tmp_path / "target")
        flow.restore(StackStores(target.backend_store_uri, None, BUCKET, target.s3_url), archive)
        client = registry_client(target)
        versions = client.search_model_versions(f"name='{MODEL}'")
        assert len(versions) == manifest["counts"]["model_versions"] >= 2
        for mv in versions:
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{MODEL}/{mv.version}",
                dst_path=str(tmp_path / "models" / mv.version),
                tracking_uri=target.tracking_uri,
            )
            tags = dict(mv.tags)
            if "serving.sha256" in tags:
                graph = mlflow.artifacts.download_artifacts(
                    artifact_uri=f"runs:/{mv.run_id}/{tags['serving.path']}/model.onnx",
                    dst_path=str(tmp_path / "graphs" / mv.version),
                    tracking_uri=target.tracking_uri,
                )
                digest = hashlib.sha256(Path(graph).read_bytes()).hexdigest()
                assert digest == tags["serving.sha256"], mv.version
    finally:
        stop.set()
        source.close()
        if target:
            target.close()
