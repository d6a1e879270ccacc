"""The artifact store, copied object by object with a kept tool: boto3's transfer manager
(download_file / upload_file with a TransferConfig: multipart and retries are its own) for S3 and
MinIO, shutil for `make run`'s local artifact folder. Each copy returns key -> sha256 and size,
read from the copied file."""

import os
import shutil
from pathlib import Path, PurePosixPath

from taller_mlflow.backup.inventory import BackupError, sha256_file

MIB = 1024 * 1024


def _safe_path(root: Path, key: str) -> Path:
    """Where object `key` goes under `root`; a key that would land outside it is refused."""
    parts = PurePosixPath(key).parts
    if not parts or key.startswith("/") or ".." in parts:
        raise BackupError(f"object key {key!r} would be written outside {root}")
    return root.joinpath(*parts)


def _record(path: Path) -> dict:
    return {"sha256": sha256_file(path), "size": path.stat().st_size}


class S3Bucket:
    """A bucket on S3 or MinIO. Credentials: boto3's own chain (AWS_ACCESS_KEY_ID, ...)."""

    def __init__(self, bucket: str, endpoint_url: str | None = None):
        import boto3
        from boto3.s3.transfer import TransferConfig

        self.bucket = bucket
        self.client = boto3.client("s3", endpoint_url=endpoint_url or None)
        self.config = TransferConfig(multipart_threshold=64 * MIB, max_concurrency=4)
        self.where = f"s3://{bucket}" + (f" at {endpoint_url}" if endpoint_url else "")

    def keys(self) -> list[str]:
        import botocore.exceptions

        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
            return [obj["Key"] for page in pages for obj in page.get("Contents", [])]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise BackupError(f"cannot list {self.where}: {exc}") from None

    def download(self, folder: Path) -> dict[str, dict]:
        found = {}
        for key in self.keys():
            path = _safe_path(folder, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.client.download_file(self.bucket, key, str(path), Config=self.config)
            found[key] = _record(path)
        return found

    def upload(self, folder: Path, keys) -> None:
        for key in keys:
            path = _safe_path(folder, key)
            self.client.upload_file(str(path), self.bucket, key, Config=self.config)


class LocalFolder:
    """`make run`'s artifact folder (MLflow's --artifacts-destination there)."""

    def __init__(self, root: Path):
        self.root = root
        self.where = str(root)

    def keys(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            Path(dirpath, name).relative_to(self.root).as_posix()
            for dirpath, _dirs, files in os.walk(self.root)
            for name in files
        )

    def download(self, folder: Path) -> dict[str, dict]:
        found = {}
        for key in self.keys():
            path = _safe_path(folder, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.root / key, path)
            found[key] = _record(path)
        return found

    def upload(self, folder: Path, keys) -> None:
        for key in keys:
            target = _safe_path(self.root, key)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(_safe_path(folder, key), target)
