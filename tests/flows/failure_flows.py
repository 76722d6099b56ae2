"""Flows for failure handling under Airflow (DAGs TimeoutFlow and RequiredParamFlow)."""

import os
import time
from pathlib import Path

from airflow_ml_provider import FlowSpec, Parameter, flow, step, timeout


@flow(dag_id="TimeoutFlow")
class TimeoutFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.slow)

    @timeout(seconds=4)
    @step
    def slow(self):
        Path(os.environ["ML_TEST_PID_FILE"]).write_text(str(os.getpid()))
        time.sleep(300)
        self.next(self.end)

    @step
    def end(self):
        pass


@flow(dag_id="RequiredParamFlow")
class RequiredParamFlow(FlowSpec):
    size = Parameter("size", type=int, required=True, help="must be given")

    @step
    def start(self):
        self.double = self.size * 2
        self.next(self.end)

    @step
    def end(self):
        pass
