"""Metaflow's ``metaflow.exception`` names, so ``from airflow_ml_provider.exception import ...`` works
where Metaflow code imported them from ``metaflow.exception``."""

from airflow_ml_provider.dsl.exceptions import (
    ExternalCommandFailed,
    FailureHandledByCatch,
    MetaflowException,
    TimeoutException,
)
from airflow_ml_provider.dsl.exceptions import StepException as MetaflowExceptionWrapper
from airflow_ml_provider.dsl.flowspec import (
    InvalidNextError as InvalidNextException,
)
from airflow_ml_provider.dsl.flowspec import (
    MergeArtifactsError,
    MissingInMergeArtifactsException,
    UnhandledInMergeArtifactsException,
)

__all__ = [
    "ExternalCommandFailed",
    "FailureHandledByCatch",
    "InvalidNextException",
    "MergeArtifactsError",
    "MetaflowException",
    "MetaflowExceptionWrapper",
    "MissingInMergeArtifactsException",
    "TimeoutException",
    "UnhandledInMergeArtifactsException",
]
