"""python -m taller_mlflow.serving (see taller_mlflow/serving/serve_cli.py)."""

import sys

from taller_mlflow.serving.serve_cli import main

sys.exit(main())
