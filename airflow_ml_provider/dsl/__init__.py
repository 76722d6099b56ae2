"""The flow DSL: what a data scientist writes (no Airflow import)."""

from airflow_ml_provider.dsl.current import current
from airflow_ml_provider.dsl.decorators import card, catch, environment, kubernetes, resources, retry, step, timeout
from airflow_ml_provider.dsl.flow_decorator import FlowOptions, flow, schedule
from airflow_ml_provider.dsl.flowspec import FlowSpec, Inputs, MergeArtifactsError
from airflow_ml_provider.dsl.parameters import IncludeFile, JSONType, Parameter
from airflow_ml_provider.dsl.project import project
from airflow_ml_provider.dsl.triggers import trigger, trigger_on_finish

__all__ = [
    "FlowOptions",
    "FlowSpec",
    "IncludeFile",
    "Inputs",
    "JSONType",
    "MergeArtifactsError",
    "Parameter",
    "card",
    "catch",
    "current",
    "environment",
    "flow",
    "kubernetes",
    "project",
    "resources",
    "retry",
    "schedule",
    "step",
    "timeout",
    "trigger",
    "trigger_on_finish",
]
