"""airflow-ml-provider: Metaflow-style ML flows that run as Apache Airflow 3 DAGs.

Importing this package never imports Airflow, pandas or pyarrow: steps and the client start
fast, and the DAG is built only inside Airflow processes.
"""

__version__ = "0.1.0"

from typing import Any

from airflow_ml_provider.client import (
    Flow,
    MetaflowNamespaceMismatch,
    Run,
    Step,
    Task,
    default_namespace,
    get_metadata,
    get_namespace,
    namespace,
)
from airflow_ml_provider.dsl import (
    FlowSpec,
    IncludeFile,
    JSONType,
    Parameter,
    card,
    catch,
    current,
    environment,
    flow,
    kubernetes,
    project,
    resources,
    retry,
    schedule,
    step,
    timeout,
    trigger,
    trigger_on_finish,
)
from airflow_ml_provider.dsl.current import use_client as _use_client
from airflow_ml_provider.dsl.flow_decorator import use_dag_builder as _use_dag_builder
from airflow_ml_provider.dsl.flowspec import use_command_line as _use_command_line
from airflow_ml_provider.dsl.unsupported import (
    Config,
    FlowMutator,
    StepMutator,
    UserStepDecorator,
    config_expr,
    parallel,
    user_step_decorator,
)
from airflow_ml_provider.errors import MLProviderError


def _client_object(kind: str, pathspec: str, attempt: int) -> Any:
    """``current.run`` / ``current.task``: the running run or attempt, read whatever the namespace."""
    if kind == "run":
        return Run(pathspec, _namespace_check=False)
    return Task(pathspec, attempt=attempt, _namespace_check=False)


def _build_dag(cls: type) -> Any:
    """``@flow`` classes become DAGs through the compiler (only inside Airflow processes)."""
    from airflow_ml_provider.compiler import compile_flow

    return compile_flow(cls)


def _flow_command_line(cls: type) -> Any:
    """``FlowSpec()`` under ``python flow.py ...`` runs the flow's command line."""
    from airflow_ml_provider.runtime.flow_cli import main

    return main(cls)


# The DSL calls up into the client, the compiler and the command line only through these hooks,
# so its own imports stay one-way (.importlinter).
_use_client(_client_object)
_use_dag_builder(_build_dag)
_use_command_line(_flow_command_line)

__all__ = [
    "S3",
    "Config",
    "Flow",
    "FlowMutator",
    "FlowSpec",
    "IncludeFile",
    "JSONType",
    "MLProviderError",
    "MetaflowNamespaceMismatch",
    "Parameter",
    "Run",
    "Runner",
    "Step",
    "StepMutator",
    "Task",
    "UserStepDecorator",
    "WebServiceSpec",
    "card",
    "catch",
    "config_expr",
    "current",
    "default_namespace",
    "endpoint",
    "environment",
    "flow",
    "get_metadata",
    "get_namespace",
    "kubernetes",
    "namespace",
    "parallel",
    "project",
    "resources",
    "retry",
    "schedule",
    "step",
    "timeout",
    "trigger",
    "trigger_on_finish",
    "user_step_decorator",
]


def __getattr__(name: str) -> Any:
    # Serving names load on first use: `import airflow_ml_provider` stays free of FastAPI/uvicorn.
    if name in ("WebServiceSpec", "endpoint"):
        from airflow_ml_provider.service import spec

        return getattr(spec, name)
    if name == "Runner":  # the Runner API loads on first use
        from airflow_ml_provider.runner import Runner

        return Runner
    if name == "S3":  # boto3 loads on first use only
        from airflow_ml_provider.data.s3 import S3

        return S3
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
