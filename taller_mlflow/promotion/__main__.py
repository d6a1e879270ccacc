"""python -m taller_mlflow.promotion (see taller_mlflow/promotion/promote_cli.py)."""

import sys

from taller_mlflow.promotion.promote_cli import main

sys.exit(main())
