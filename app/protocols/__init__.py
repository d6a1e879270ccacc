"""The standard inference protocols, beside the workshop's /predict: MLflow's scoring protocol
(`scoring`) and the Open Inference Protocol V2 REST API (`v2`). Both take columns, validate them
column-wise (app/columns.py) and share /predict's registry, cache and metrics."""
