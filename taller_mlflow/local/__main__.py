"""python -m taller_mlflow.local (see taller_mlflow/local/embedded.py)."""

import sys

from taller_mlflow.local.embedded import main

sys.exit(main())
