"""Batch scoring: a whole table of penguins scored with a version's verified ONNX graph.

    python -m taller_mlflow.batch --model modelo_penguins@production --data-url URL \
        --table penguins_new --out-table predictions_new [--dask-scheduler tcp://host:8786]

rows       the serving rules (/predict's) applied row by row: each bad row gets its reason
reader     the input table split into key ranges, and one range read through SQLAlchemy
writer     the output table, and one partition's rows replaced in it (idempotent per run id)
scorer     one partition read, checked, scored and written: the task a Dask worker runs
batch_job  the version loaded and verified, the partitions run here or on the cluster, the run
batch_cli  python -m taller_mlflow.batch

Workers import rows, reader, writer and scorer only: onnxruntime, numpy and SQLAlchemy, no
MLflow and no scikit-learn, like the API.
"""
