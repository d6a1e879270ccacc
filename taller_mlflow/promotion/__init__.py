"""Safe promotion: a gate every move of the served alias goes through, the serving artifact it
verifies and logs with each version, and a rollback.

evaluation        the held-out rows logged with each version (evaluation/eval_rows.csv)
fitted            a version's scikit-learn model and registered input example (the only unpickling)
onnx_export       the pipeline converted to ONNX, and its parity with scikit-learn as evidence
serving_artifact  build, verify and log model.onnx + manifest.json, and tag the version serving.*
probe             a fresh process, without S3 keys, loads that artifact as the API will, and predicts
checks            the four checks, each a Check(name, passed, detail)
lease, pg_lease   one promotion of a model at a time: a lock in the MLflow registry, or a
                  PostgreSQL advisory lock (TALLER_PROMOTION_LOCK_URL)
comparison        the candidate and the live version scored on the same rows (before the lease)
aliases, trail    reading and moving the alias; the tags each decision leaves
fence             the move under the lease: the lease still ours and the alias unmoved, checked
                  right before each write
gate, rollback    decide, then move the alias and record why, or reject; move it back
export            `--export N`: the serving artifact of a version registered before the gate did it
agreement         the shadow challenger's agreement rate, for the decision (n/a until measured)
"""
