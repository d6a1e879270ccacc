"""`python -m taller_mlflow.monitor`, the documented command: taller_mlflow/monitoring/monitor_cli.py does the work."""

import sys

from taller_mlflow.monitoring.monitor_cli import main

if __name__ == "__main__":
    sys.exit(main())
