#!/bin/sh
# MLflow's MinIO user: one that may read, write, list and delete objects in the artifact bucket and
# nothing else, so the MLflow server never holds MinIO's root keys. Run by the one-off compose
# service `minio-user` (the MinIO image, which ships `mc`) once MinIO is healthy; safe to run again:
# the user's secret is set to MLFLOW_S3_SECRET_KEY, the policy rewritten and attached.
#
#   MINIO_ENDPOINT                  http://minio:9000
#   MINIO_ROOT_USER/_PASSWORD       MinIO's root (this container only)
#   MINIO_BUCKET                    mlflows3
#   MLFLOW_S3_ACCESS_KEY/_SECRET_KEY  the user MLflow connects as (AWS_ACCESS_KEY_ID/... there)
#
# By hand, with MinIO's client against any MinIO:
#   mc alias set taller http://127.0.0.1:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
#   mc admin user add taller "$MLFLOW_S3_ACCESS_KEY" "$MLFLOW_S3_SECRET_KEY"
#   mc admin policy create taller mlflow-artifacts policy.json   # the document below
#   mc admin policy attach taller mlflow-artifacts --user "$MLFLOW_S3_ACCESS_KEY"
#
# A test stand-in for MinIO (moto behind MinIO's CLI, ../shared/standin-images) has no admin API
# and its `mc` answers only `mc ready local`: then this says so and exits 0, and MLflow's keys
# work there only because the stand-in checks no key at all.
set -eu

endpoint="${MINIO_ENDPOINT:-http://minio:9000}"
bucket="${MINIO_BUCKET:-mlflows3}"
user="${MLFLOW_S3_ACCESS_KEY:?set MLFLOW_S3_ACCESS_KEY (see .env.example)}"
secret="${MLFLOW_S3_SECRET_KEY:?set MLFLOW_S3_SECRET_KEY (make up generates it)}"
: "${MINIO_ROOT_USER:?set MINIO_ROOT_USER}" "${MINIO_ROOT_PASSWORD:?set MINIO_ROOT_PASSWORD}"
case "$secret" in
  CHANGE-ME*) echo "minio-user: MLFLOW_S3_SECRET_KEY is the placeholder from .env.example: run \`make secrets\`" >&2; exit 2 ;;
esac
if [ "$user" = "$MINIO_ROOT_USER" ]; then
  echo "minio-user: MLFLOW_S3_ACCESS_KEY is MinIO's root user: give MLflow a user of its own" >&2
  exit 2
fi

if ! mc --version >/dev/null 2>&1; then
  echo "minio-user: this image's mc is not MinIO's client (a test stand-in?): no admin API, no user created"
  exit 0
fi

export MC_CONFIG_DIR="${TMPDIR:-/tmp}/mc-config"
tries=0
until mc alias set taller "$endpoint" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null; do
  tries=$((tries + 1))
  [ "$tries" -lt 30 ] || { echo "minio-user: $endpoint refused MinIO's root credentials" >&2; exit 1; }
  sleep 2
done

policy="$MC_CONFIG_DIR/mlflow-artifacts.json"
cat >"$policy" <<EOF
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
      "Resource": ["arn:aws:s3:::${bucket}"]
    },
    {
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                 "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      "Resource": ["arn:aws:s3:::${bucket}/*"]
    }
  ]
}
EOF

mc admin user add taller "$user" "$secret" >/dev/null
mc admin policy create taller mlflow-artifacts "$policy" >/dev/null
# Attaching a policy the user already has is an error to mc: check, then attach.
if ! mc admin user info taller "$user" 2>/dev/null | grep -q "mlflow-artifacts"; then
  mc admin policy attach taller mlflow-artifacts --user "$user" >/dev/null
fi
echo "minio-user: $user may read, write, list and delete in bucket $bucket only (policy mlflow-artifacts)"
