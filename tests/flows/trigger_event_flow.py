"""A flow started by an event (DAG EventFlow): @trigger(event="data_updated"), also daily, and
reading the event's payload (the asset event's extra) in its start step."""

from airflow_ml_provider import FlowSpec, current, schedule, step, trigger


@trigger(event="data_updated")
@schedule(daily=True)
class EventFlow(FlowSpec):
    @step
    def start(self):
        event = current.trigger.event if current.trigger else None
        self.event_name = event.name if event else None
        self.payload = event.payload if event else None
        self.next(self.end)

    @step
    def end(self):
        print("event", self.event_name, self.payload)


if __name__ == "__main__":
    EventFlow()
