"""python -m taller_mlflow.backup {backup,restore} FILE [options]: see taller_mlflow/backup/.

Where the stores are (flags win over the environment):
  --local DIR          make run's folder (.run): mlflow.db, monitoring.db, artifacts/
  otherwise the stack's:
  --mlflow-db URL      BACKUP_MLFLOW_DB_URL       MLflow's PostgreSQL database
  --monitoring-db URL  BACKUP_MONITORING_DB_URL   the prediction log's (optional)
  --bucket NAME        MINIO_BUCKET (mlflows3)    the artifact bucket
  --s3-endpoint URL    MLFLOW_S3_ENDPOINT_URL     MinIO's S3 API; keys from AWS_ACCESS_KEY_ID, ...
  --pg-exec PREFIX     BACKUP_PG_EXEC             run pg_dump/pg_restore/psql through it, e.g.
                                                  "docker compose exec -T -e PGPASSWORD postgres"
  --stack-env FILE     the Docker stack's .env (make backup): the databases as the postgres
                       container sees them (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB,
                       `monitoring`), MinIO's root keys and MINIO_BUCKET; the URL flags still win
Prefer the environment for URLs holding a password: a command line is visible to `ps`.
Exit 0 done, 1 a problem (said in one line), 2 bad usage.
"""

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import quote

from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError

from taller_mlflow.backup import flow
from taller_mlflow.backup.inventory import BackupError
from taller_mlflow.backup.stores import RunFolder, StackStores


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m taller_mlflow.backup",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["backup", "restore"])
    parser.add_argument("file", help="the archive to write (backup) or read (restore)")
    parser.add_argument("--force", action="store_true", help="restore into a non-empty target")
    parser.add_argument("--local", metavar="DIR", help="make run's folder instead of the stack")
    parser.add_argument("--stack-env", metavar="FILE", help="the Docker stack's .env")
    env = os.environ.get
    parser.add_argument("--mlflow-db", default=env("BACKUP_MLFLOW_DB_URL"))
    parser.add_argument("--monitoring-db", default=env("BACKUP_MONITORING_DB_URL"))
    parser.add_argument("--bucket", default=env("MINIO_BUCKET") or "mlflows3")
    parser.add_argument("--s3-endpoint", default=env("MLFLOW_S3_ENDPOINT_URL"))
    parser.add_argument("--pg-exec", default=env("BACKUP_PG_EXEC", ""))
    return parser.parse_args(argv)


def stack_env_defaults(path: Path) -> dict[str, str]:
    """What make backup needs from the stack's .env, as this tool's settings."""
    from taller_mlflow.local.envfile import entries

    try:
        values = entries(path.read_text())
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    get = lambda name, default="": values.get(name) or default  # noqa: E731
    user, password = quote(get("POSTGRES_USER", "mlflow")), quote(get("POSTGRES_PASSWORD"))
    base = f"postgresql://{user}:{password}@127.0.0.1:5432"  # inside the postgres container
    return {
        "BACKUP_MLFLOW_DB_URL": f"{base}/{get('POSTGRES_DB', 'mlflow')}",
        "BACKUP_MONITORING_DB_URL": f"{base}/monitoring",
        "MINIO_BUCKET": get("MINIO_BUCKET", "mlflows3"),
        "AWS_ACCESS_KEY_ID": get("MINIO_ROOT_USER", "admin"),
        "AWS_SECRET_ACCESS_KEY": get("MINIO_ROOT_PASSWORD"),
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def stores_for(args):
    if args.stack_env:
        defaults = stack_env_defaults(Path(args.stack_env))
        os.environ.update({k: v for k, v in defaults.items() if k.startswith("AWS_")})
        args.mlflow_db = args.mlflow_db or defaults["BACKUP_MLFLOW_DB_URL"]
        args.monitoring_db = args.monitoring_db or defaults["BACKUP_MONITORING_DB_URL"]
        args.bucket = defaults["MINIO_BUCKET"]
    if args.local:
        return RunFolder(Path(args.local).resolve())
    return StackStores(
        args.mlflow_db, args.monitoring_db, args.bucket, args.s3_endpoint, args.pg_exec
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    say = lambda text: print(f"{args.action}: {text}", flush=True)  # noqa: E731
    try:
        stores = stores_for(args)
        if args.action == "backup":
            flow.backup(stores, Path(args.file), say=say)
        else:
            flow.restore(stores, Path(args.file), force=args.force, say=say)
    except BackupError as exc:
        print(f"{args.action}: error: {exc}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError, Boto3Error) as exc:
        print(f"{args.action}: error: the artifact store answered: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{args.action}: error: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{args.action}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, never a traceback
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"{args.action}: error: unexpected {type(exc).__name__}: {first}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
