"""Airflow UI plugin: an "Artifacts" view of every flow run.

Registered through the ``airflow.plugins`` entry point (``MLArtifactsPlugin``). It adds:

- a FastAPI app under ``/ml-artifacts`` (HTML pages for the views below plus ``/ml-artifacts/api``);
- an "Artifacts" tab on the DAG-run page and on the task-instance page;
- an "ML flows" page in the navigation listing flows and runs, filterable by tag.

Plugins are imported by every Airflow process (scheduler, workers, dag-processor), so the app is
built lazily on its first request: importing this module does not import FastAPI route code or
Airflow's API-server security module.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/ml-artifacts"


class _LazyApp:
    """ASGI app that builds the real FastAPI app on first use (keeps plugin import cheap)."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self._app is None:
            from airflow_ml_provider.plugin.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class MLArtifactsPlugin(AirflowPlugin):
    """The artifacts views; see the module docstring."""

    name = "ml_artifacts"
    fastapi_apps = [{"app": _LazyApp(), "url_prefix": URL_PREFIX, "name": "ML artifacts"}]
    external_views = [
        {
            "name": "Artifacts",
            "href": f"{URL_PREFIX}/dags/{{DAG_ID}}/runs/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "ml-run-artifacts",
        },
        {
            "name": "Artifacts",
            "href": f"{URL_PREFIX}/dags/{{DAG_ID}}/runs/{{RUN_ID}}/tasks/{{TASK_ID}}?map_index={{MAP_INDEX}}",
            "destination": "task_instance",
            "url_route": "ml-task-artifacts",
        },
        {
            "name": "ML flows",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "ml-flows",
        },
    ]


__all__ = ["URL_PREFIX", "MLArtifactsPlugin"]
