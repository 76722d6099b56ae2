"""``python -m airflow_ml_provider.runtime step ...``: the step entry point (pods and local).

``warm-start FD [FLOW_FILE]`` is the local worker's step starter (see :mod:`.warm_start`), not for users.
"""

import sys

if __name__ == "__main__":
    if len(sys.argv) in (3, 4) and sys.argv[1] == "warm-start":
        from airflow_ml_provider.runtime.warm_start import serve

        sys.exit(serve(int(sys.argv[2]), *sys.argv[3:]))
    if len(sys.argv) < 2 or sys.argv[1] != "step":
        sys.exit("usage: python -m airflow_ml_provider.runtime step --flow-file F --flow-class C --step S ...")
    from airflow_ml_provider.runtime.task_runner import main

    sys.exit(main(sys.argv[2:]))
