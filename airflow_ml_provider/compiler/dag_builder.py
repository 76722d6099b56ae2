"""FlowGraph -> Airflow DAG: the only place that builds DAGs.

One task per step, each a :class:`FlowStepOperator`. A foreach split returns its child task ids
(its XCom value, the only XCom used) and the body's first step is mapped over them; every later
body step is mapped over the previous one's output (each body task returns its own id), so map
index i is the i-th item all the way down to the join. A task's own id is its step's ordinal plus
the foreach path of the id it is mapped over (``runtime/topology.py``).
"""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, Param

from airflow_ml_provider import config
from airflow_ml_provider.compiler.assets import finish_asset, trigger_schedule
from airflow_ml_provider.compiler.pod_spec import effective_resources, pod_kwargs
from airflow_ml_provider.dsl.flow_decorator import flow_options
from airflow_ml_provider.dsl.parameters import IncludeFile, flow_parameters
from airflow_ml_provider.dsl.project import (
    defaults_context,
    env_branch,
    project_dag_id,
    project_flow_name,
    project_tags,
)
from airflow_ml_provider.graph import FlowGraph, build_graph
from airflow_ml_provider.operators import FlowStepOperator
from airflow_ml_provider.runtime.step_guards import backstop_seconds, has_fallback
from airflow_ml_provider.runtime.topology import step_ordinal

DEFAULT_START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def dag_params(flow_cls: type) -> dict[str, Param]:
    params = {}
    for param in flow_parameters(flow_cls).values():
        with defaults_context(flow_cls, project_tags(flow_cls, *env_branch(flow_cls))):
            default = param.resolve_default(flow_cls.__name__)  # a function default runs at parse time
        description = param.help or ""
        if isinstance(param, IncludeFile):
            description = (description + " (path of a file, relative to the flow file)").strip()
        kwargs: dict[str, Any] = {"type": param.json_schema_type, "description": description or None}
        if default is not None or not param.required:
            params[param.name] = Param(default, **kwargs)
        else:
            params[param.name] = Param(**kwargs)
    return params


def _flow_task_defaults(flow_cls: type, default_image: str) -> dict[str, Any]:
    """Task arguments shared by every step of a flow (options read once per compile)."""
    return {
        "default_image": default_image,
        "namespace": config.get_option("kubernetes_namespace"),
        "shared_secrets": [s.strip() for s in config.get_option("kubernetes_secrets").split(",") if s.strip()],
        "flow_file": inspect.getfile(flow_cls),
        "flow_class": flow_cls.__name__,
        "parameter_names": [p.name for p in flow_parameters(flow_cls).values()],
        "kubernetes_conn_id": config.get_option("kubernetes_conn_id"),
        "run_tags": [*flow_options(flow_cls).tags, *project_tags(flow_cls, *env_branch(flow_cls))],
    }


def _task_kwargs(graph: FlowGraph, step: str, shared: dict[str, Any]) -> dict[str, Any]:
    node = graph[step]
    decorators = node.decorators
    kwargs = pod_kwargs(decorators, shared["default_image"], shared["namespace"], shared["shared_secrets"])
    kwargs.update(
        flow_file=shared["flow_file"],
        flow_class=shared["flow_class"],
        step_name=step,
        step_type=node.type,
        step_ordinal=step_ordinal(graph, step),
        parameter_names=shared["parameter_names"],
        step_resources=effective_resources(decorators),
        kubernetes_conn_id=shared["kubernetes_conn_id"],
        run_tags=shared["run_tags"],
        doc_md=node.doc,
    )
    retry = decorators.get("retry")
    if retry is not None:
        kwargs["retries"] = retry.times
        kwargs["retry_delay"] = timedelta(minutes=retry.minutes_between_retries)
    timeout = decorators.get("timeout")
    if timeout is not None:  # the step raises at the timeout itself; Airflow kills it only if it ignores that
        kwargs["execution_timeout"] = timedelta(seconds=backstop_seconds(timeout.total_seconds))
    kwargs["catch_fallback"] = has_fallback(decorators, node.type)
    gates = graph.switch_gates(step)
    if gates:
        kwargs["switch_gates"] = [(switch, case, step_ordinal(graph, switch)) for switch, case in gates]
    if graph.merges_switch(step):  # the cases that were not chosen end skipped, not failed
        kwargs["trigger_rule"] = "none_failed_min_one_success"
    elif (gates and graph.foreach_depth(step) > 0) or any(
        graph.switch_gates(p) and graph.foreach_depth(p) > 0 for p in node.in_funcs
    ):  # a mapped upstream skipped at some map indexes (the cases not chosen there) is no reason to skip
        kwargs["trigger_rule"] = "none_failed"
    return kwargs


def _build_tasks(graph: FlowGraph, flow_cls: type, default_image: str) -> dict[str, Any]:
    """Create one task per step; foreach bodies at any depth map over flat task-id lists.

    A step at foreach depth d >= 1 maps over the ids of its depth-d tasks: the split's returned
    list when the split is unmapped, a ``<split>__fanout`` control task that flattens the lists
    returned by a mapped split (nested foreach), or the previous step's output (each body task
    returns its own id). A join closing a nested foreach maps over what its split mapped over.
    A step after a switch case inside a foreach maps over what that case mapped over (the case
    skips itself at the map indexes where it was not chosen, so its own output has gaps).
    """
    tasks: dict[str, Any] = {}
    sources: dict[str, Any] = {}  # step -> the XComArg its mapping expands over
    shared = _flow_task_defaults(flow_cls, default_image)
    for step in graph.topological_order():
        node = graph[step]
        kwargs = _task_kwargs(graph, step, shared)
        if graph.foreach_depth(step) == 0:
            tasks[step] = FlowStepOperator(task_id=step, **kwargs)
            continue
        closes = graph.closes_foreach(step)
        parent = node.in_funcs[0]
        if closes is not None:
            source = sources[closes]
        elif graph[parent].type == "foreach" and graph.foreach_depth(parent) > 0:
            source = fanout_task(parent, gated=bool(graph.switch_gates(parent)))(tasks[parent].output)
        elif graph[parent].type != "foreach" and graph.switch_gates(parent):
            source = sources[parent]  # a case task returns nothing where it was skipped: map over all ids
        else:
            source = tasks[parent].output
        sources[step] = source
        tasks[step] = FlowStepOperator.partial(
            task_id=step, map_index_template="{{ ml_foreach_label }}", **kwargs
        ).expand(foreach_task_id=source)
    return tasks


def fanout_task(split: str, gated: bool = False) -> Any:
    """Control task flattening the child-id lists of a mapped (nested) split, in foreach order.

    A ``gated`` split is a switch case inside a foreach: it skipped itself at some map indexes, so
    the fan-out takes the lists of the indexes that ran (and is skipped when none did).
    """
    from airflow.sdk import task

    rule = "none_failed" if gated else "all_success"

    @task(task_id=f"{split}__fanout", doc_md=f"Flattens the task ids of nested foreach {split!r}.", trigger_rule=rule)
    def fanout(child_lists: Any) -> list[str]:
        from airflow.configuration import conf

        flat = [task_id for children in child_lists if children is not None for task_id in children]
        if not flat and gated:
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(f"no map index of {split!r} was chosen by its switch")
        limit = conf.getint("core", "max_map_length", fallback=1024)
        if len(flat) > limit:
            raise ValueError(
                f"nested foreach {split!r} fans out to {len(flat)} tasks, more than Airflow's [core] "
                f"max_map_length = {limit}. Raise it (AIRFLOW__CORE__MAX_MAP_LENGTH) or split less finely."
            )
        if not flat:
            raise ValueError(f"nested foreach {split!r} produced no tasks")
        return flat

    return fanout


def compile_flow(flow_cls: type) -> DAG:
    """Build the Airflow DAG of ``flow_cls`` (raises FlowGraphError with file:line on bad graphs)."""
    graph = build_graph(flow_cls)
    options = flow_options(flow_cls)
    default_image = options.default_image or config.get_option("default_image")
    schedule = trigger_schedule(flow_cls, options.schedule)
    dag_kwargs: dict[str, Any] = {
        "dag_id": project_dag_id(flow_cls, options.dag_id or flow_cls.__name__),
        "schedule": schedule,
        "start_date": options.start_date or DEFAULT_START,
        "catchup": options.catchup,
        "tags": sorted({"ml-flow", *options.tags, *project_tags(flow_cls, *env_branch(flow_cls))}),
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
    with dag:
        tasks = _build_tasks(graph, flow_cls, default_image)
        tasks["end"].outlets = [finish_asset(project_flow_name(flow_cls))]  # what @trigger_on_finish waits for
        for step in graph.topological_order():
            for child in graph[step].out_funcs:
                tasks[step] >> tasks[child]
    return dag
