"""Compiler: FlowGraph -> Airflow DAG of FlowStepOperator (KubernetesPodOperator) tasks."""

from airflow_ml_provider.compiler.dag_builder import compile_flow

__all__ = ["compile_flow"]
