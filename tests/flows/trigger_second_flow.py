"""Metaflow's @trigger_on_finish example, downstream half, only the import swapped (DAG SecondFlow):
it runs when FirstFlow succeeds and reads FirstFlow's run through current.trigger."""

from airflow_ml_provider import FlowSpec, current, step, trigger_on_finish


@trigger_on_finish(flow="FirstFlow")
class SecondFlow(FlowSpec):
    @step
    def start(self):
        trigger = current.trigger
        if trigger is None:
            self.upstream = None
            self.upstream_model = None
        else:
            print("triggered by", trigger.run.pathspec)
            self.upstream = trigger.run.pathspec
            self.upstream_model = trigger.run.data.model
        self.next(self.end)

    @step
    def end(self):
        print("upstream", self.upstream, self.upstream_model)


if __name__ == "__main__":
    SecondFlow()
