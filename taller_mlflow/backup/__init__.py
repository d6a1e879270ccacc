"""Backup and restore of the three stores: MLflow's backend database, the prediction log and the
artifact store, in one archive with a manifest of counts and checksums.

    python -m taller_mlflow.backup backup FILE [--local DIR | stack options]
    python -m taller_mlflow.backup restore FILE [--force] [--local DIR | stack options]

`make backup` / `make restore FILE=...` (the Docker stack, docker.mk) and `make backup-run` /
`make restore-run FILE=...` (`make run`'s `.run/`, the Makefile) call it; docs/operations.md
says how it stays consistent and how to run it for the host unit.
"""
