"""Two runs of one flow at once (dag ParamsE2EFlow, max_active_runs=2) with different parameters."""

import time

from airflow_ml_provider import FlowSpec, Parameter, current, flow, step


@flow(dag_id="ParamsE2EFlow", tags=["e2e"], max_active_runs=2)
class ParamsE2EFlow(FlowSpec):
    seed = Parameter("seed", default=1)

    @step
    def start(self):
        self.value = self.seed * 10
        self.started = time.time()
        self.next(self.middle)

    @step
    def middle(self):
        self.middle_start = time.time()
        time.sleep(8)  # both runs are inside this step at the same time
        self.value = self.value + 1
        self.middle_end = time.time()
        self.next(self.end)

    @step
    def end(self):
        self.result = {"seed": self.seed, "value": self.value, "run_id": current.run_id}
