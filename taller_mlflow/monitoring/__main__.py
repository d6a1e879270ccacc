"""python -m taller_mlflow.monitoring (see taller_mlflow/monitoring/monitor_cli.py)."""

import sys

from taller_mlflow.monitoring.monitor_cli import main

sys.exit(main())
