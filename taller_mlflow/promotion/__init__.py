"""Safe promotion: a gate every move of the served alias goes through, and a rollback.

evaluation  the held-out rows logged with each version (evaluation/eval_rows.csv)
probe       a fresh process, without S3 keys, loads a version and predicts its input example
checks      the four checks, each a Check(name, passed, detail)
lease       one promotion of a model at a time, through a lock in the MLflow registry
gate        decide, then move the alias and record why (tags), or reject; rollback
agreement   the shadow challenger's agreement rate, for the decision (n/a until shadowing exists)
"""
