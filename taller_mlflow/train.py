"""`python -m taller_mlflow.train`, the documented command: taller_mlflow/training/train_cli.py does the work."""

import sys

from taller_mlflow.training.train_cli import main

if __name__ == "__main__":
    sys.exit(main())
