"""``@trigger`` / ``@trigger_on_finish`` (Metaflow's event triggering) on Airflow Assets, and
``current.trigger``.

On Airflow a flow's DAG is scheduled on Assets (data-aware scheduling):

- every flow's ``end`` task emits the flow's *finish asset* when the run succeeds, URI
  ``x-ml-provider://<flow>/finished?root=<artifact root>`` where ``<flow>`` is the flow name, or
  ``<project>.<branch>.<flow>`` under ``@project`` (Metaflow's ``project_flow_name``), so each
  branch triggers only its own branch's flows, and the artifact root keeps two deployments that
  share an Airflow apart; ``@trigger_on_finish(flow="A")`` schedules on A's finish asset;
- ``@trigger(event="name")`` schedules on the Asset named ``name`` (URI = name): anything may
  emit it, a task's ``outlets`` or ``POST /api/v2/assets/events`` with an ``extra`` payload.

Several names mean "any of them" (Airflow's ``Asset | Asset``); with ``@schedule`` the DAG runs on
the time schedule *or* the assets (``AssetOrTimeSchedule``). The run's start task records what
triggered it (the asset events: name, id, timestamp, ``extra``) in the run record, which
``current.trigger`` and the client's ``Run.trigger`` read. ``python flow.py run`` records the
decorators but ignores them, as Metaflow does locally.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from airflow_ml_provider.errors import MLProviderError

T = TypeVar("T", bound=type)
FINISH_SCHEME = "x-ml-provider"


class TriggerError(MLProviderError, ValueError):
    """A malformed ``@trigger`` / ``@trigger_on_finish``."""


@dataclass(frozen=True)
class TriggerSpec:
    """What the trigger decorators declared on a flow class."""

    events: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()


def _names(one: Any, many: Any, what: str, deco: str) -> tuple[str, ...]:
    if (one is None) == (many is None):
        raise TriggerError(f"@{deco} takes either {what}= or {what}s=, not both and not neither")
    values = [one] if one is not None else list(many)
    names = []
    for value in values:
        if isinstance(value, dict):
            extra_keys = sorted(set(value) - {"name"})
            if extra_keys:
                raise TriggerError(
                    f"@{deco}: only {{'name': ...}} is supported in a {what} dict, not {extra_keys}; "
                    "read the payload from current.trigger.event.payload in the start step instead"
                )
            value = value.get("name")
        if not isinstance(value, str) or not value:
            raise TriggerError(f"@{deco}: each {what} must be a non-empty name, not {value!r}")
        names.append(value)
    if not names:
        raise TriggerError(f"@{deco}: {what}s= is empty")
    return tuple(names)


def _apply(klass: T, **add: tuple[str, ...]) -> T:
    from airflow_ml_provider.dsl.flow_decorator import _after_decorator

    spec = trigger_spec(klass)
    events, flows = (*spec.events, *add.get("events", ())), (*spec.flows, *add.get("flows", ()))
    setattr(klass, "_ml_triggers", TriggerSpec(events=events, flows=flows))
    _after_decorator(klass)
    return klass


def trigger(
    cls: T | None = None, /, *, event: Any = None, events: Any = None, options: dict[str, Any] | None = None
) -> Any:
    """Run the flow when asset event ``event`` (or any of ``events``) is emitted (Metaflow's ``@trigger``)."""
    names = _names(event, events, "event", "trigger")

    def apply(klass: T) -> T:
        return _apply(klass, events=names)

    return apply(cls) if cls is not None else apply


def trigger_on_finish(
    cls: T | None = None, /, *, flow: Any = None, flows: Any = None, options: dict[str, Any] | None = None
) -> Any:
    """Run the flow when flow ``flow`` (or any of ``flows``) finishes successfully (Metaflow's
    ``@trigger_on_finish``); under ``@project`` the flows of the same branch."""
    names = _names(flow, flows, "flow", "trigger_on_finish")

    def apply(klass: T) -> T:
        return _apply(klass, flows=names)

    return apply(cls) if cls is not None else apply


def trigger_spec(flow_cls: type) -> TriggerSpec:
    return flow_cls.__dict__.get("_ml_triggers") or TriggerSpec()


def finish_asset_uri(artifact_root: str, project_flow_name: str) -> str:
    """The URI of the Asset a successful run of ``project_flow_name`` emits."""
    return f"{FINISH_SCHEME}://{project_flow_name}/finished?root={quote(artifact_root, safe='')}"


# -- current.trigger / Run.trigger ---------------------------------------------------------------


@dataclass(frozen=True)
class MetaflowEvent:
    """One triggering event: ``name``, ``id``, ``timestamp``, ``type`` (``event`` or ``run``) and
    ``payload`` (the asset event's ``extra``)."""

    name: str
    id: str | None
    timestamp: str | None
    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    run_pathspec: str | None = None


class Trigger:
    """What started a run (Metaflow's ``current.trigger`` / ``Run.trigger``).

    ``event`` / ``events``: the asset events; ``run`` / ``runs``: the finished runs among them, as
    client ``Run`` objects; ``trigger["FlowName"]`` is that flow's run, ``trigger["event"]`` that event.
    """

    def __init__(self, records: list[dict[str, Any]], load_run: Any) -> None:
        self._events = [
            MetaflowEvent(
                name=r.get("name", ""), id=r.get("id"), timestamp=r.get("timestamp"), type=r.get("type", "event"),
                payload=dict(r.get("payload") or {}), run_pathspec=r.get("run"),
            )
            for r in records
        ]  # fmt: skip
        self._load_run = load_run

    @property
    def event(self) -> MetaflowEvent | None:
        return self._events[0] if self._events else None

    @property
    def events(self) -> list[MetaflowEvent]:
        return list(self._events)

    @property
    def runs(self) -> list[Any]:
        return [self._load_run(e.run_pathspec) for e in self._events if e.run_pathspec]

    @property
    def run(self) -> Any:
        runs = self.runs
        return runs[0] if runs else None

    def __getitem__(self, key: str) -> Any:
        for e in self._events:
            if e.run_pathspec and e.run_pathspec.split("/")[0] in (key, key.rsplit(".", 1)[-1]):
                return self._load_run(e.run_pathspec)
            if e.name == key:
                return e
        raise KeyError(key)

    def __iter__(self) -> Iterator[MetaflowEvent]:
        return iter(self._events)

    def __repr__(self) -> str:
        return f"Trigger({[e.name for e in self._events]})"
