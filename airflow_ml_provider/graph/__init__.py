"""Flow graph model and checker (no Airflow import)."""

from airflow_ml_provider.graph.lint import build_graph
from airflow_ml_provider.graph.model import FlowGraph, FlowGraphError, StepNode

__all__ = ["FlowGraph", "FlowGraphError", "StepNode", "build_graph"]
