"""DAG discovery for flow files under Airflow's ``dag_discovery_safe_mode``.

Airflow parses a file only if its bytes mention ``airflow`` and ``dag`` (or ``asset``). A flow
file imports ``airflow_ml_provider`` (so it mentions ``airflow``); the README's form writes
``@flow(dag_id=...)`` (so it mentions ``dag``) and is found with default settings. A Metaflow
file whose only change is its import line mentions no ``dag``: either add a comment such as
``# Airflow DAG``, or let Airflow recognise flow files everywhere by setting::

    [core]
    might_contain_dag_callable = airflow_ml_provider.discovery.might_contain_flow

which keeps Airflow's default rule for every other file. ``python flow.py check`` says which
case a file is in.
"""

from __future__ import annotations

import zipfile


def might_contain_flow(file_path: str, zip_file: zipfile.ZipFile | None = None) -> bool:
    """Airflow's default heuristic, plus files that import airflow_ml_provider and subclass FlowSpec."""
    if zip_file is not None:
        with zip_file.open(file_path) as fh:
            content = fh.read()
    else:
        if zipfile.is_zipfile(file_path):
            return True
        with open(file_path, "rb") as fh:
            content = fh.read()
    lowered = content.lower()
    if b"airflow" not in lowered:
        return False
    if b"dag" in lowered or b"asset" in lowered:
        return True
    return b"airflow_ml_provider" in content and b"FlowSpec" in content
