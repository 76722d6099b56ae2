"""Client API over the artifact store (no Airflow needed)."""

from airflow_ml_provider.client.core import (
    DataArtifact,
    Flow,
    MetaflowNamespaceMismatch,
    Run,
    Step,
    Task,
    default_namespace,
    get_metadata,
    get_namespace,
    namespace,
    set_artifact_root,
)

__all__ = [
    "DataArtifact",
    "Flow",
    "MetaflowNamespaceMismatch",
    "Run",
    "Step",
    "Task",
    "default_namespace",
    "get_metadata",
    "get_namespace",
    "namespace",
    "set_artifact_root",
]
