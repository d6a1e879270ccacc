"""What `make run` starts and supervises on this machine, with no Docker.

embedded    python -m taller_mlflow.local: MLflow, training, the API, JupyterLab, the drift job
servers     each server as a child process, started and waited for
supervisor  restarts a child that dies (with backoff), stops them all on Ctrl-C
watchdog    a process that stops the children when `make run` dies, even by SIGKILL
preflight   `make up`'s host-port check (stdlib only)
"""
