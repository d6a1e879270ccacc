"""Serve registered models from the ONNX graphs the promotion gate verified: resolve `name`,
`name@alias` or `name/version`, load once, hot-swap, score for every protocol.

Nothing here imports MLflow, scikit-learn or pandas: the registry is read over MLflow's REST API
and a version is served only from its verified graph (tests/integration/test_lean_worker.py).

- problems: the domain errors the data plane raises;
- mlflow_rest: the small REST client (registry, run artifacts, webhooks), with basic auth;
- manifest, onnx_model, artifacts: the serving artifact, its runtime, and the loader that checks
  a version's graph against its sha256 tag before loading it;
- refs, cache, refresher, registry, catalogue, health: references and their resolution, the
  bounded cache of loaded versions, the supervised refresh thread, the facade, the listing;
- features, events, dataplane: column validation, the one event type, the data plane;
- shadow, shadow_agreement: the `challenger` alias scored beside production;
- metrics, webhooks, build: Prometheus counters, MLflow webhooks, wiring from settings;
- serve_cli: `python -m taller_mlflow.serving MODEL`: resolve, fetch, verify and describe a version.
"""
