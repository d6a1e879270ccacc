"""The two layouts a backup reads and a restore writes:

- StackStores: MLflow's PostgreSQL database, the `monitoring` database (PostgreSQL) and the S3
  bucket (the Docker stack, the host unit, Kubernetes' stores);
- RunFolder: `make run`'s `.run/`: mlflow.db and monitoring.db (SQLite) and artifacts/.

Each dumps its databases into a staging folder (returning archive name -> counts), restores them
from one, counts what it holds, and names its artifact store (`objects`).
"""

import shutil
from pathlib import Path

from taller_mlflow.backup import sqlite_copy
from taller_mlflow.backup.bucket_copy import LocalFolder, S3Bucket
from taller_mlflow.backup.inventory import LOG_TABLES, MLFLOW_TABLES, BackupError
from taller_mlflow.backup.pg_store import Postgres

DB_DIR = "databases"
OBJECT_DIR = "objects"


class StackStores:
    layout = "postgres"

    def __init__(self, mlflow_url, monitoring_url, bucket, endpoint_url=None, pg_exec=""):
        if not mlflow_url:
            raise BackupError("no MLflow database: pass --mlflow-db or set BACKUP_MLFLOW_DB_URL")
        self.databases = {f"{DB_DIR}/mlflow.dump": (Postgres(mlflow_url, pg_exec), MLFLOW_TABLES)}
        if monitoring_url:
            self.databases[f"{DB_DIR}/monitoring.dump"] = (
                Postgres(monitoring_url, pg_exec),
                LOG_TABLES,
            )
        self.objects = S3Bucket(bucket, endpoint_url)

    def dump(self, folder: Path) -> dict[str, dict]:
        (folder / DB_DIR).mkdir(exist_ok=True)
        return {
            name: db.dump(folder / name, tables) for name, (db, tables) in self.databases.items()
        }

    def restore(self, folder: Path, names) -> None:
        for name in names:
            if name not in self.databases:
                raise BackupError(f"the archive holds {name}, and no database was given for it")
            self.databases[name][0].restore(folder / name)

    def counts(self) -> dict[str, int]:
        found = {}
        for db, tables in self.databases.values():
            found.update(db.counts(tables))
        return found


class RunFolder:
    layout = "local"
    # Beside the databases: the key MLflow encrypts webhook secrets with, and the API's webhook
    # secret (taller_mlflow/local/webhook_setup.py); without them restored webhooks fail.
    KEEP = ("webhook_encryption.key", "webhook_secret")

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.sqlite = {
            f"{DB_DIR}/mlflow.db": (workdir / "mlflow.db", MLFLOW_TABLES),
            f"{DB_DIR}/monitoring.db": (workdir / "monitoring.db", LOG_TABLES),
        }
        self.objects = LocalFolder(workdir / "artifacts")

    def dump(self, folder: Path) -> dict[str, dict]:
        (folder / DB_DIR).mkdir(exist_ok=True)
        counted = {}
        for name, (path, tables) in self.sqlite.items():
            if path.is_file():  # no monitoring.db before the first prediction
                sqlite_copy.copy(path, folder / name)
                counted[name] = sqlite_copy.counts(folder / name, tables)
        if not counted:
            raise BackupError(f"nothing to back up in {self.workdir}: no mlflow.db there")
        for keep in self.KEEP:
            if (self.workdir / keep).is_file():
                shutil.copy2(self.workdir / keep, folder / DB_DIR / keep)
                counted[f"{DB_DIR}/{keep}"] = {}
        return counted

    def restore(self, folder: Path, names) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for name in names:
            if name in self.sqlite:
                sqlite_copy.copy(folder / name, self.sqlite[name][0])
            elif name.startswith(f"{DB_DIR}/") and name.split("/", 1)[1] in self.KEEP:
                target = self.workdir / name.split("/", 1)[1]
                shutil.copy2(folder / name, target)
                target.chmod(0o600)
            else:
                raise BackupError(f"the archive holds {name}, which a .run folder has no place for")

    def counts(self) -> dict[str, int]:
        found = {}
        for path, tables in self.sqlite.values():
            found.update(sqlite_copy.counts(path, tables))
        return found
