"""python -m taller_mlflow.batch (see taller_mlflow/batch/batch_cli.py)."""

import sys

from taller_mlflow.batch.batch_cli import main

sys.exit(main())
