"""``python -m airflow_ml_provider.runtime step ...``: the step entry point (pods and local)."""

import sys

from airflow_ml_provider.runtime.task_runner import main

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "step":
        sys.exit("usage: python -m airflow_ml_provider.runtime step --flow-file F --flow-class C --step S ...")
    sys.exit(main(sys.argv[2:]))
