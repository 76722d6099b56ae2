"""``@flow`` and ``@schedule``: flow-level options, and when a flow class becomes a DAG.

A flow class is compiled into an Airflow DAG only inside a process that has already imported
Airflow (the dag-processor, a worker, ``airflow dags test``); ``python flow.py run`` and step
processes never pay for it. Without a class decorator the DAG is built when the class is
defined, with defaults, so a Metaflow file whose only change is its import line is a DAG too.
With ``@flow``/``@schedule`` the outermost of them builds it, once. The DAG object is placed in
the flow module's globals, where Airflow's DAG discovery finds it. A class whose name starts with
``_`` is a base class to share steps from: it never becomes a DAG itself.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

T = TypeVar("T", bound=type)

FLOW_DECORATORS = ("flow", "schedule", "project", "trigger", "trigger_on_finish")


@dataclass(frozen=True)
class FlowOptions:
    """DAG-level options of a flow (see ``@flow`` for their meaning)."""

    dag_id: str | None = None
    schedule: Any = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    catchup: bool = False
    tags: tuple[str, ...] = ()
    default_image: str | None = None
    max_active_runs: int | None = None
    max_active_tasks: int | None = None
    dagrun_timeout: timedelta | None = None
    owner: str | None = None
    description: str | None = None
    dag_kwargs: dict[str, Any] = field(default_factory=dict)


def flow_options(cls: type) -> FlowOptions:
    return cls.__dict__.get("_ml_flow_options") or FlowOptions()


def _in_airflow_process() -> bool:
    return "airflow" in sys.modules and "airflow.sdk" in sys.modules


def _decorator_names(cls: type) -> list[str]:
    """Names of our flow decorators written above ``class cls`` in its source."""
    from airflow_ml_provider.graph.parser import _class_def

    try:
        _, class_def = _class_def(cls)
    except (OSError, TypeError, SyntaxError):
        return []
    names = []
    for deco in class_def.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
        if name in FLOW_DECORATORS:
            names.append(name)
    return names


def on_flow_class_defined(cls: type) -> None:
    """Called by ``FlowSpec.__init_subclass__``: build the DAG now, or leave it to a decorator."""
    from airflow_ml_provider.graph.parser import step_functions

    setattr(cls, "_ml_dag", None)
    if not _in_airflow_process() or cls.__name__.startswith("_") or not step_functions(cls):
        return
    pending = len(_decorator_names(cls))
    setattr(cls, "_ml_pending_decorators", pending)
    if pending == 0:
        register_dag(cls)


def _after_decorator(cls: type) -> None:
    if not _in_airflow_process():
        return
    pending = cls.__dict__.get("_ml_pending_decorators", 0) - 1
    setattr(cls, "_ml_pending_decorators", pending)
    if pending <= 0:
        register_dag(cls)


_dag_builder: Callable[[type], Any] | None = None


def use_dag_builder(build: Callable[[type], Any]) -> None:
    """Called by the package root with the compiler's entry point: the DSL never imports the
    compiler (or Airflow) itself, it only calls what was registered here."""
    global _dag_builder
    _dag_builder = build


def register_dag(cls: type) -> Any:
    """Compile ``cls`` and expose the DAG in its module's globals for Airflow to find."""
    if _dag_builder is None:  # only when the package root was bypassed, which Python never does
        raise RuntimeError("no DAG builder registered: import airflow_ml_provider, not only its dsl")
    dag = _dag_builder(cls)
    cls._ml_dag = dag  # type: ignore[attr-defined]
    module = sys.modules.get(cls.__module__)
    if module is not None:
        setattr(module, f"__ml_dag_{cls.__name__}", dag)
    return dag


def flow(
    cls: T | None = None,
    /,
    *,
    dag_id: str | None = None,
    schedule: Any = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    catchup: bool = False,
    tags: list[str] | tuple[str, ...] = (),
    default_image: str | None = None,
    max_active_runs: int | None = None,
    max_active_tasks: int | None = None,
    dagrun_timeout: timedelta | None = None,
    owner: str | None = None,
    description: str | None = None,
    **dag_kwargs: Any,
) -> Any:
    """Make a FlowSpec class an Airflow DAG (TaskFlow's ``@dag`` for flows).

    ``dag_id`` defaults to the class name; ``schedule`` takes a cron string, a preset such as
    ``"@daily"``, a ``timedelta`` or None (manual only); ``start_date`` defaults to 2024-01-01
    UTC when a schedule is set; ``catchup`` is False as in Airflow 3; ``tags`` are DAG tags;
    ``default_image`` is the pod image of steps without ``@kubernetes(image=...)``; the class
    docstring becomes the DAG's documentation. Other keyword arguments go to ``DAG(...)``.
    """

    def apply(klass: T) -> T:
        base = flow_options(klass)
        options = replace(
            base,
            dag_id=dag_id or base.dag_id,
            schedule=schedule if schedule is not None else base.schedule,
            start_date=start_date or base.start_date,
            end_date=end_date or base.end_date,
            catchup=catchup,
            tags=((tags,) if isinstance(tags, str) else tuple(tags)) or base.tags,  # tags="ml" is one tag
            default_image=default_image or base.default_image,
            max_active_runs=max_active_runs,
            max_active_tasks=max_active_tasks,
            dagrun_timeout=dagrun_timeout,
            owner=owner,
            description=description,
            dag_kwargs={**base.dag_kwargs, **dag_kwargs},
        )
        setattr(klass, "_ml_flow_options", options)
        _after_decorator(klass)
        return klass

    return apply(cls) if cls is not None else apply


def schedule(
    cls: T | None = None,
    /,
    *,
    hourly: bool = False,
    daily: bool = False,
    weekly: bool = False,
    cron: str | None = None,
    timezone: str | None = None,
) -> Callable[[T], T] | T:
    """Metaflow's ``@schedule(daily=True)`` / ``@schedule(cron="0 4 * * *")`` for a flow."""
    chosen = [name for name, on in (("@hourly", hourly), ("@daily", daily), ("@weekly", weekly)) if on]
    if cron:
        chosen.append(cron)
    if len(chosen) > 1:
        raise TypeError("@schedule takes one of hourly=, daily=, weekly= or cron=")
    value: Any = chosen[0] if chosen else "@daily"
    if timezone:
        # the compiler turns this into a CronTriggerTimetable in that timezone
        value = {"cron": value, "timezone": timezone}

    def apply(klass: T) -> T:
        setattr(klass, "_ml_flow_options", replace(flow_options(klass), schedule=value))
        _after_decorator(klass)
        return klass

    return apply(cls) if cls is not None else apply
