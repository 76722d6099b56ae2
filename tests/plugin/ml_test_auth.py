"""A SimpleAuthManager that denies one DAG to one user (SimpleAuthManager has no per-DAG rules).

Loaded by the test api-server through ``AIRFLOW__CORE__AUTH_MANAGER=ml_test_auth.DenyingAuthManager``
(``tests/plugin`` is put on its ``PYTHONPATH``). User ``bob`` may not read DAG ``DeniedFlow`` (the
fixture store's) nor ``RealCardFlow`` (the real card flow run of ``test_cards_browser_real_flow.py``);
everything else behaves exactly like SimpleAuthManager.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

DENIED_USER = "bob"
DENIED_DAG = "DeniedFlow"
DENIED_DAGS = frozenset({DENIED_DAG, "RealCardFlow"})


class DenyingAuthManager(SimpleAuthManager):
    def is_authorized_dag(self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None) -> bool:
        if user.get_name() == DENIED_USER and details is not None and details.id in DENIED_DAGS:
            return False
        return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)
