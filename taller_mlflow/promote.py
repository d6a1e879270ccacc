"""`python -m taller_mlflow.promote`, the documented command: taller_mlflow/promotion/promote_cli.py does the work."""

import sys

from taller_mlflow.promotion.promote_cli import main

if __name__ == "__main__":
    sys.exit(main())
