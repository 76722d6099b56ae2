"""Schedules in every accepted form (Airflow DAGs: CronFlow, PresetFlow, DeltaFlow, MetaflowScheduleFlow, TzFlow)."""

from datetime import timedelta

from airflow_ml_provider import FlowSpec, flow, schedule, step


class _Base(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


@flow(dag_id="CronFlow", schedule="0 4 * * *")
class CronFlow(_Base):
    pass


@flow(dag_id="PresetFlow", schedule="@hourly", catchup=True, max_active_runs=2)
class PresetFlow(_Base):
    pass


@flow(dag_id="DeltaFlow", schedule=timedelta(hours=6))
class DeltaFlow(_Base):
    pass


@schedule(daily=True)
class MetaflowScheduleFlow(_Base):
    pass


@schedule(cron="30 2 * * 1", timezone="Europe/Paris")
@flow(dag_id="TzFlow", tags=["tz"])
class TzFlow(_Base):
    pass
