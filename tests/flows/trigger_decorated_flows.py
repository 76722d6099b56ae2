"""Trigger decorator combinations (compiled by tests/test_triggers.py; DAG files elsewhere)."""

from airflow_ml_provider import FlowSpec, project, schedule, step, trigger, trigger_on_finish


class _Steps(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


@trigger_on_finish(flows=["FirstFlow", "OtherFlow"])
class AfterTwoFlow(_Steps):
    pass


@trigger(event="data_updated")
@schedule(hourly=True)
class EventOrHourlyFlow(_Steps):
    pass


@project(name="demo", branch="feature_x")
@trigger_on_finish(flow="FirstFlow")
class BranchFlow(_Steps):
    pass
