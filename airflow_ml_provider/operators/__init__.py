"""Operators: what runs when an Airflow task of a flow executes (the compiler builds DAGs of them).

``FlowStepOperator`` is a KubernetesPodOperator that runs one step attempt as a pod, or as a local
process in ``execution_mode = local``, and records attempts the step could not record itself.
"""

from airflow_ml_provider.operators.step_operator import FlowStepOperator

__all__ = ["FlowStepOperator"]
