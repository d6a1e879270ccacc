"""taller_mlflow: the Palmer penguins classifier as a small MLOps stack.

The notebook, the training CLI and the FastAPI service all import this package. Importing it
changes nothing in the process: MLflow's client settings are applied by
`taller_mlflow.mlflow_setup.configure_mlflow`, which each entry point calls.
"""

__version__ = "1.0.0"
