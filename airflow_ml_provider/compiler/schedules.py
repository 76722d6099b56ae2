"""Flow schedules -> Airflow ``schedule`` values."""

from __future__ import annotations

from typing import Any


def to_airflow_schedule(value: Any) -> Any:
    """Cron strings, presets (``@daily``), timedeltas and None pass through; a
    ``{"cron": ..., "timezone": ...}`` from ``@schedule(timezone=...)`` becomes a timetable."""
    if isinstance(value, dict):
        from airflow.sdk import CronTriggerTimetable

        return CronTriggerTimetable(value["cron"], timezone=value["timezone"])
    return value  # cron string, preset, timedelta, None, or a Timetable / asset schedule given as is
