"""Airflow provider registration (entry point ``apache_airflow_provider``).

Declaring the ``[ml_provider]`` section here makes ``airflow config list`` show it and
``AIRFLOW__ML_PROVIDER__<KEY>`` environment variables work through Airflow's ``conf``.
"""

from __future__ import annotations

from typing import Any

from airflow_ml_provider import __version__
from airflow_ml_provider.config import OPTIONS, SECTION


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-ml-provider",
        "name": "ML flows",
        "description": "Metaflow-style ML flows compiled to Airflow DAGs, with a content-addressed artifact store.",
        "versions": [__version__],
        "config": {
            SECTION: {
                "description": "Options of airflow-ml-provider (flows, steps and the artifact store).",
                "options": {
                    key: {
                        "description": opt.description,
                        "version_added": None,
                        "type": "string",
                        "example": opt.example,
                        "default": opt.default,
                    }
                    for key, opt in OPTIONS.items()
                },
            }
        },
    }
