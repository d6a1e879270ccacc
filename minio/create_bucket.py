"""Create the MLflow artifact bucket in MinIO if it is missing; idempotent; exits 0 when it exists.

Run by the one-off `minio-init` service (docker-compose-minio.yaml) once MinIO is healthy:
    S3_ENDPOINT_URL  http://minio:9000
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY   MinIO's root user and password
    MINIO_BUCKET     mlflows3
"""

import os
import sys
import time

import boto3
from botocore.exceptions import BotoCoreError, ClientError

OWNED = ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")


def main() -> int:
    endpoint = os.environ.get("S3_ENDPOINT_URL", "http://minio:9000")
    bucket = os.environ.get("MINIO_BUCKET", "mlflows3")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    deadline = time.monotonic() + float(os.environ.get("WAIT_SECONDS", "60"))
    while True:
        try:
            names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
            if bucket in names:
                print(f"minio-init: bucket {bucket} already exists at {endpoint}", flush=True)
                return 0
            try:
                s3.create_bucket(Bucket=bucket)
            except ClientError as exc:
                if exc.response["Error"]["Code"] not in OWNED:
                    raise
            s3.head_bucket(Bucket=bucket)
            print(f"minio-init: bucket {bucket} created at {endpoint}", flush=True)
            return 0
        except (BotoCoreError, ClientError) as exc:
            if time.monotonic() > deadline:
                print(f"minio-init: cannot create {bucket} at {endpoint}: {exc}", file=sys.stderr)
                return 1
            time.sleep(2)


if __name__ == "__main__":
    sys.exit(main())
