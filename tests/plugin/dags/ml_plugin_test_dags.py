"""Airflow DAGs named like the fixture flows, so Airflow knows them (auth, listing, UI run pages).

The tasks are placeholders: the plugin reads the artifact store written by the test fixtures.
"""

import itertools

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

STEPS = {
    "TableFlow": ["start", "train", "end"],
    "BigFlow": ["start", "process", "join"],
    "renamed_dag": ["start"],
    "scan_dag": ["start"],
    "DeniedFlow": ["start"],
    "HostileFlow": ["start"],
    "CardFlow": ["start", "train", "end"],
}

for _dag_id, _steps in STEPS.items():
    with DAG(_dag_id, schedule=None, catchup=False) as _dag:
        _tasks = [EmptyOperator(task_id=s) for s in _steps]
        for _a, _b in itertools.pairwise(_tasks):
            _a >> _b
    globals()[_dag_id] = _dag
