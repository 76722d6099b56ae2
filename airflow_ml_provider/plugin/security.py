"""Authentication and authorization for the plugin's routes.

A FastAPI app mounted through ``fastapi_apps`` is not protected by Airflow, so every route declares
one of these dependencies. They reuse Airflow's own: the user comes from the ``Authorization:
Bearer`` header or the UI's ``_token`` cookie (401 when absent or expired), and DAG read access is
decided by the configured auth manager (403 when denied), exactly like the core REST API.

``dag_id`` is read by ``requires_access_dag`` from the path of the route, so every route that shows
a run, step, task or blob carries ``{dag_id}`` in its path; a run is then only served when its
``run.json`` names that same DAG (see :meth:`StoreReader.run`), so access to one DAG never opens
the runs of another.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends

#: Read access to the runs of the DAG named by the ``{dag_id}`` path parameter.
READ_RUN = Depends(requires_access_dag("GET", DagAccessEntity.RUN))
#: Read access to the task instances of that DAG (task pages, downloads).
READ_TASK = Depends(requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE))

__all__ = ["READ_RUN", "READ_TASK", "GetUserDep", "readable_dag_ids"]


def readable_dag_ids(user: Any) -> set[str]:
    """DAG ids this user may read, filtered by the auth manager (only DAGs known to Airflow)."""
    return set(get_auth_manager().get_authorized_dag_ids(user=user, method="GET"))
