"""python -m taller_mlflow.training (see taller_mlflow/training/train_cli.py)."""

import sys

from taller_mlflow.training.train_cli import main

sys.exit(main())
