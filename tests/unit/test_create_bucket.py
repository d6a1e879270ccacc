"""minio/create_bucket.py, the stack's one-off bucket creator, against moto's in-process S3."""

import importlib.util

import boto3
import pytest
from moto import mock_aws

from taller_mlflow.local.servers import ROOT, free_port


@pytest.fixture(scope="module")
def create_bucket():
    spec = importlib.util.spec_from_file_location("create_bucket", ROOT / "minio/create_bucket.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("s3", region_name="us-east-1")


def test_creates_the_bucket_once_then_finds_it(create_bucket, s3):
    assert create_bucket.ensure_bucket(s3, "mlflows3") == "created"
    assert create_bucket.ensure_bucket(s3, "mlflows3") == "already exists"
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["mlflows3"]


def test_gives_up_with_exit_1_and_one_line_when_minio_never_answers(
    create_bucket, monkeypatch, capsys
):
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("S3_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("WAIT_SECONDS", "0")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries would only slow this down
    assert create_bucket.main() == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"minio-init: cannot create mlflows3 at {endpoint}")
