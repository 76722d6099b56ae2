"""A SimpleAuthManager that denies one DAG to one user (SimpleAuthManager has no per-DAG rules).

Loaded by the test api-server through ``AIRFLOW__CORE__AUTH_MANAGER=ml_test_auth.DenyingAuthManager``
(``tests/plugin`` is put on its ``PYTHONPATH``). User ``bob`` may not read DAG ``DeniedFlow``;
everything else behaves exactly like SimpleAuthManager.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

DENIED_USER = "bob"
DENIED_DAG = "DeniedFlow"


class DenyingAuthManager(SimpleAuthManager):
    def is_authorized_dag(self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None) -> bool:
        if user.get_name() == DENIED_USER and details is not None and details.id == DENIED_DAG:
            return False
        return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)
