"""``@trigger`` / ``@trigger_on_finish`` on Airflow Assets: the DAG's asset schedule, the finish
asset every flow's end task emits, and the triggering asset events a run records (URIs and
meaning: ``dsl/triggers.py``)."""

from __future__ import annotations

from typing import Any

from airflow_ml_provider import config
from airflow_ml_provider.compiler.schedules import to_airflow_schedule
from airflow_ml_provider.dsl.project import project_flow_name
from airflow_ml_provider.dsl.triggers import finish_asset_uri, trigger_spec


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None and hasattr(value, "isoformat") else None


def finish_asset(project_flow: str) -> Any:
    """The Asset a successful run of flow ``project_flow`` emits from its end task."""
    from airflow.sdk import Asset

    return Asset(uri=finish_asset_uri(config.artifact_root(), project_flow), group="ml-flow-finished")


def _finished_name(flow_cls: type, name: str) -> str:
    """``@trigger_on_finish(flow="A")`` in a ``@project`` flow means A of the same branch (Metaflow);
    a name with dots is already ``<project>.<branch>.<flow>``."""
    return name if "." in name else project_flow_name(flow_cls, name)


def trigger_schedule(flow_cls: type, time_schedule: Any) -> Any:
    """The DAG's schedule: the time schedule, the trigger Assets (any of them), or either."""
    spec = trigger_spec(flow_cls)
    schedule = to_airflow_schedule(time_schedule)
    if not spec.events and not spec.flows:
        return schedule
    from airflow.sdk import Asset, AssetAny

    assets = [Asset(name=e) for e in spec.events] + [finish_asset(_finished_name(flow_cls, f)) for f in spec.flows]
    condition = assets[0] if len(assets) == 1 else AssetAny(*assets)
    if schedule is None:
        return condition
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, DeltaTriggerTimetable

    if isinstance(schedule, str):
        schedule = CronTriggerTimetable(_PRESETS.get(schedule, schedule), timezone="UTC")
    elif not hasattr(schedule, "serialize") and not type(schedule).__name__.endswith("Timetable"):
        schedule = DeltaTriggerTimetable(schedule)
    return AssetOrTimeSchedule(timetable=schedule, assets=condition)


_PRESETS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *"}
