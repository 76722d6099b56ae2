"""Artifact store: content-addressed blobs, per-attempt metadata, serializers, backends."""

from airflow_ml_provider.datastore.backend import LocalBackend, StorageBackend, get_backend
from airflow_ml_provider.datastore.flow_store import FAILED, RUNNING, SUCCESS, ArtifactLoadError, FlowDatastore
from airflow_ml_provider.datastore.ids import InvalidIdError, check_id, encode_run_id

__all__ = [
    "FAILED",
    "RUNNING",
    "SUCCESS",
    "ArtifactLoadError",
    "FlowDatastore",
    "InvalidIdError",
    "LocalBackend",
    "StorageBackend",
    "check_id",
    "encode_run_id",
    "get_backend",
]
