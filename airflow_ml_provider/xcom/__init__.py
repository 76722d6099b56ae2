"""An Airflow XCom backend over the artifact store (``[core] xcom_backend``).

``airflow_ml_provider.xcom.ArtifactXComBackend`` is resolved lazily so that the reference and GC
helpers import without Airflow.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ArtifactXComBackend"]


def __getattr__(name: str) -> Any:
    if name == "ArtifactXComBackend":
        from airflow_ml_provider.xcom.backend import ArtifactXComBackend

        return ArtifactXComBackend
    raise AttributeError(name)
