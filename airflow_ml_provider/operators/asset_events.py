"""The asset events that started a DAG run, read from the task's Airflow context when a step runs
(the DAG's asset schedule itself is built by ``compiler/assets.py``; URIs: ``dsl/triggers.py``)."""

from __future__ import annotations

from typing import Any

from airflow_ml_provider.dsl.triggers import FINISH_SCHEME


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None and hasattr(value, "isoformat") else None


def triggering_events(context: Any) -> list[dict[str, Any]] | None:
    """The asset events that started this DAG run, as the run record keeps them (``dsl/triggers.py``):
    a finished flow's event (its ``extra`` names the run) is of type ``run``, any other ``event``."""
    accessor = context.get("triggering_asset_events")
    if not accessor:
        return None
    records = []
    for asset in accessor:
        for event in accessor[asset]:
            extra = dict(event.extra or {})
            pathspec = extra.get("pathspec") if str(event.asset.uri).startswith(f"{FINISH_SCHEME}://") else None
            name = extra.get("flow_name") if pathspec else event.asset.name
            stamp = _iso(event.timestamp)
            records.append({
                "type": "run" if pathspec else "event", "name": name, "payload": extra, "timestamp": stamp,
                "id": f"{event.source_dag_id or 'api'}/{event.source_run_id or stamp}", "run": pathspec,
                "asset_uri": event.asset.uri,
            })  # fmt: skip
    records.sort(key=lambda r: r["timestamp"] or "")
    return records or None
