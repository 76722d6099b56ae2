"""Client API over the artifact store (no Airflow needed)."""

from airflow_ml_provider.client.core import (
    DataArtifact,
    Flow,
    Run,
    Step,
    Task,
    get_metadata,
    get_namespace,
    namespace,
    set_artifact_root,
)

__all__ = [
    "DataArtifact",
    "Flow",
    "Run",
    "Step",
    "Task",
    "get_metadata",
    "get_namespace",
    "namespace",
    "set_artifact_root",
]
