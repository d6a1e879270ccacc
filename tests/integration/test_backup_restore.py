"""`make backup` / `make restore` on real services: a real MLflow server on PostgreSQL with its
artifacts proxied to S3 (moto), a version @production with its serving artifact and tags, a
prediction log in PostgreSQL with rows; a backup (a version registered between the dump and the
copy of the bucket); a restore into a FRESH stack (new database, which the new MLflow server has
already filled with its tables, new bucket, new log database); then the same runs, versions,
aliases, tags, artifacts (sha256) and row count, and a second restore refused.
"""

import pytest

from taller_mlflow.backup import flow
from taller_mlflow.backup.__main__ import main
from taller_mlflow.backup.inventory import BackupError
from taller_mlflow.backup.stores import StackStores
from tests.support.backup_checks import artifact_sums, fill_log, log_rows, registry_state
from tests.support.promotion import MODEL, log_version, registry_client
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
