"""Create the MLflow artifact bucket in MinIO if it is missing; idempotent; exits 0 when it exists.

Run by the one-off `minio-init` service (docker-compose-minio.yaml) once MinIO is healthy:
    S3_ENDPOINT_URL  http://minio:9000
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY   MinIO's root user and password
    MINIO_BUCKET     mlflows3
    WAIT_SECONDS     60: how long to keep trying while MinIO does not answer
"""

import os
import sys

import boto3
import tenacity
from botocore.exceptions import BotoCoreError, ClientError

OWNED = ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")
RETRY_SECONDS = 2


def ensure_bucket(s3, bucket: str) -> str:
    """'already exists' or 'created'; raises BotoCoreError/ClientError while MinIO cannot answer."""
    if bucket in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        return "already exists"
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in OWNED:
            raise
    s3.head_bucket(Bucket=bucket)
    return "created"


def main() -> int:
    endpoint = os.environ.get("S3_ENDPOINT_URL", "http://minio:9000")
    bucket = os.environ.get("MINIO_BUCKET", "mlflows3")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(float(os.environ.get("WAIT_SECONDS", "60"))),
        wait=tenacity.wait_fixed(RETRY_SECONDS),
        retry=tenacity.retry_if_exception_type((BotoCoreError, ClientError)),
        reraise=True,
    )
    try:
        outcome = retrying(ensure_bucket, s3, bucket)
    except (BotoCoreError, ClientError) as exc:
        print(f"minio-init: cannot create {bucket} at {endpoint}: {exc}", file=sys.stderr)
        return 1
    print(f"minio-init: bucket {bucket} {outcome} at {endpoint}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
