"""python3 -m taller_mlflow.local.doctor: see the package's docstring."""

import sys

from taller_mlflow.local.doctor.cli import main

sys.exit(main())
