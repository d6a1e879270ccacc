"""taller_mlflow: the Palmer penguins classifier as a small MLOps stack.

The notebook, the training CLI and the FastAPI service all import this package.
"""

__version__ = "1.0.0"
