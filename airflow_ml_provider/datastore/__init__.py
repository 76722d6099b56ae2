"""Artifact store: content-addressed blobs, per-attempt metadata, serializers, backends."""

from airflow_ml_provider.datastore.backend import LocalBackend, StorageBackend, get_backend
from airflow_ml_provider.datastore.flow_store import FlowDatastore
from airflow_ml_provider.datastore.ids import InvalidIdError, check_id, encode_run_id
from airflow_ml_provider.datastore.records import (
    FAILED,
    RUNNING,
    SUCCESS,
    ArtifactIntegrityError,
    ArtifactLoadError,
    CorruptRecordError,
    StoreError,
)

__all__ = [
    "FAILED",
    "RUNNING",
    "SUCCESS",
    "ArtifactIntegrityError",
    "ArtifactLoadError",
    "CorruptRecordError",
    "FlowDatastore",
    "InvalidIdError",
    "LocalBackend",
    "StorageBackend",
    "StoreError",
    "check_id",
    "encode_run_id",
    "get_backend",
]
