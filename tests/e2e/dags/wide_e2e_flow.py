"""A 100-wide foreach on the running Airflow (dag WideE2EFlow); one item fails while a marker exists."""

import os
import time

from airflow_ml_provider import FlowSpec, current, flow, step

WIDTH = 100


@flow(dag_id="WideE2EFlow", tags=["e2e"], max_active_tasks=16)
class WideE2EFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(WIDTH))
        self.next(self.body, foreach="items")

    @step
    def body(self):
        marker = os.environ.get("E2E_WIDE_MARKER")
        if self.input == 7 and marker and os.path.exists(marker):
            raise RuntimeError("item 7 fails while the marker exists")
        self.started = time.time()
        time.sleep(0.5)  # long enough for tasks of other workers to overlap
        self.square = self.input * self.input
        self.pid = os.getpid()
        self.ended = time.time()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.squares = [i.square for i in inputs]
        self.spans = [(i.started, i.ended) for i in inputs]
        self.seen_run = current.run_id
        self.next(self.end)

    @step
    def end(self):
        self.total = sum(self.squares)
