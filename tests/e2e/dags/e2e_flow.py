"""The flow the end-to-end test drops into a running Airflow's dags folder."""

import os
import time
from datetime import datetime, timezone

from airflow_ml_provider import FlowSpec, Parameter, current, flow, retry, step


@flow(
    dag_id="E2EFlow",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    tags=["e2e"],
    max_active_runs=1,
)
class E2EFlow(FlowSpec):
    """Exercise retries, clearing, resume and backfill on a real Airflow."""

    alpha = Parameter("alpha", default=0.5, help="a float the trigger form validates")

    @step
    def start(self):
        time.sleep(3)  # measurable work: a resumed run must not redo it
        self.x = self.alpha
        self.logical = current.logical_date.isoformat() if current.logical_date else None
        self.next(self.flaky)

    @retry(times=1, minutes_between_retries=0)
    @step
    def flaky(self):
        if current.retry_count == 0:
            raise RuntimeError("the first try of flaky always fails")
        self.tries = current.retry_count
        self.next(self.fragile)

    @step
    def fragile(self):
        if os.path.exists(os.environ["E2E_MARKER"]):
            raise RuntimeError("marker file present: fragile fails")
        self.y = self.x * 2
        self.next(self.end)

    @step
    def end(self):
        self.done = True
