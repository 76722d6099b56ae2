"""FlowGraph -> Airflow DAG: the only place that builds DAGs.

One task per step, each a :class:`FlowStepOperator`. A foreach split returns its child task ids
(its XCom value, the only XCom used) and the body's first step is mapped over them; every later
body step is mapped over the previous one's output (each body task returns its own id), so map
index i is the i-th item all the way down to the join.
"""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, Param

from airflow_ml_provider import config
from airflow_ml_provider.compiler.operator import FlowStepOperator
from airflow_ml_provider.compiler.pod_spec import effective_resources, pod_kwargs
from airflow_ml_provider.compiler.schedules import to_airflow_schedule
from airflow_ml_provider.dsl.flow_decorator import flow_options
from airflow_ml_provider.dsl.parameters import IncludeFile, flow_parameters
from airflow_ml_provider.graph import FlowGraph, FlowGraphError, build_graph

DEFAULT_START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def dag_params(flow_cls: type) -> dict[str, Param]:
    params = {}
    for param in flow_parameters(flow_cls).values():
        description = param.help or ""
        if isinstance(param, IncludeFile):
            description = (description + " (path of a file, relative to the flow file)").strip()
        kwargs: dict[str, Any] = {"type": param.json_schema_type, "description": description or None}
        if param.default is not None or not param.required:
            params[param.name] = Param(param.default, **kwargs)
        else:
            params[param.name] = Param(**kwargs)
    return params


def _task_kwargs(graph: FlowGraph, step: str, flow_cls: type, default_image: str) -> dict[str, Any]:
    node = graph[step]
    decorators = node.decorators
    kwargs = pod_kwargs(decorators, default_image, config.get_option("kubernetes_namespace"))
    kwargs.update(
        flow_file=inspect.getfile(flow_cls),
        flow_class=flow_cls.__name__,
        step_name=step,
        step_type=node.type,
        parameter_names=[p.name for p in flow_parameters(flow_cls).values()],
        step_resources=effective_resources(decorators),
        kubernetes_conn_id=config.get_option("kubernetes_conn_id"),
        doc_md=node.doc,
    )
    retry = decorators.get("retry")
    if retry is not None:
        kwargs["retries"] = retry.times
        kwargs["retry_delay"] = timedelta(minutes=retry.minutes_between_retries)
    timeout = decorators.get("timeout")
    if timeout is not None:
        kwargs["execution_timeout"] = timedelta(seconds=timeout.total_seconds)
    return kwargs


def _unsupported(node: Any, what: str) -> FlowGraphError:
    return FlowGraphError([f"{node.where()}: {what} is not supported yet on Airflow."])


def compile_flow(flow_cls: type) -> DAG:
    """Build the Airflow DAG of ``flow_cls`` (raises FlowGraphError with file:line on bad graphs)."""
    graph = build_graph(flow_cls)
    options = flow_options(flow_cls)
    default_image = options.default_image or config.get_option("default_image")
    schedule = to_airflow_schedule(options.schedule)
    dag_kwargs: dict[str, Any] = {
        "dag_id": options.dag_id or flow_cls.__name__,
        "schedule": schedule,
        "start_date": options.start_date or DEFAULT_START,
        "catchup": options.catchup,
        "tags": sorted({"ml-flow", *options.tags}),
        "doc_md": graph.doc,
        "description": options.description or (graph.doc.splitlines()[0] if graph.doc else None),
        "params": dag_params(flow_cls),
        "auto_register": False,
        **options.dag_kwargs,
    }
    if options.end_date:
        dag_kwargs["end_date"] = options.end_date
    for key in ("max_active_runs", "max_active_tasks", "dagrun_timeout"):
        if getattr(options, key) is not None:
            dag_kwargs[key] = getattr(options, key)
    if options.owner:
        dag_kwargs["default_args"] = {**dag_kwargs.get("default_args", {}), "owner": options.owner}
    dag = DAG(**dag_kwargs)
    tasks: dict[str, Any] = {}
    with dag:
        for step in graph.topological_order():
            node = graph[step]
            kwargs = _task_kwargs(graph, step, flow_cls, default_image)
            depth = graph.foreach_depth(step)
            closes = graph.closes_foreach(step)
            if depth == 0:
                tasks[step] = FlowStepOperator(task_id=step, **kwargs)
                continue
            if depth > 1 or (closes and graph.foreach_depth(closes) > 0):
                raise _unsupported(node, f"step {step!r} sits in a nested foreach, which")
            parent = node.in_funcs[0]
            source = tasks[parent].output
            tasks[step] = FlowStepOperator.partial(
                task_id=step, map_index_template="{{ ml_foreach_label }}", **kwargs
            ).expand(foreach_task_id=source)
        for step in graph.topological_order():
            for child in graph[step].out_funcs:
                tasks[step] >> tasks[child]
    return dag
