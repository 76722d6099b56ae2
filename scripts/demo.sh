#!/usr/bin/env bash
# The main job on the embedded default: local execution, local artifact store, SQLite Airflow
# home in ./.airflow-demo. Runs the foreach example under `airflow dags test` and shows its result.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export AIRFLOW_HOME="$PWD/.airflow-demo"
export AIRFLOW__CORE__DAGS_FOLDER="$PWD/dags_examples"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__ML_PROVIDER__EXECUTION_MODE=local
mkdir -p "$AIRFLOW_HOME"
log="$AIRFLOW_HOME/demo.log"
echo "Airflow home: $AIRFLOW_HOME (log: $log)"
.venv/bin/airflow db migrate >"$log" 2>&1 || { tail -40 "$log"; exit 1; }
echo "Running: airflow dags test ForeachFlow"
if ! .venv/bin/airflow dags test ForeachFlow >>"$log" 2>&1; then
  grep -E "ERROR|Error|Traceback" "$log" | tail -20
  exit 1
fi
grep -E "\[DAG TEST\] end task" "$log" | sed -E 's/.*end task (task_id=[^ ]+ map_index=[^ ]+).*/  finished \1/'
echo
.venv/bin/airflow-ml-provider show ForeachFlow
