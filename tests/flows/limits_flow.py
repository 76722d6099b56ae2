"""Foreach lists Airflow cannot map, in three branches (Airflow DAG: LimitsFlow).

Run with AIRFLOW__CORE__MAX_MAP_LENGTH=5: an empty list, a top-level split of 6 and a nested
3 x 3 = 9 fan-out must each fail at their split (or at the nested split's fan-out control task)
with a message, and the run must end failed rather than skip anything. A fourth branch maps over
three items of which one fails: its task must still be labelled with its item.
"""

from airflow_ml_provider import FlowSpec, flow, step


@flow(dag_id="LimitsFlow")
class LimitsFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.empty_split, self.wide_split, self.outer_split, self.item_split)

    @step
    def empty_split(self):
        self.nothing = []
        self.next(self.empty_body, foreach="nothing")

    @step
    def empty_body(self):
        self.value = self.input
        self.next(self.empty_join)

    @step
    def empty_join(self, inputs):
        self.values = [i.value for i in inputs]
        self.next(self.all_done)

    @step
    def wide_split(self):
        self.six = list(range(6))
        self.next(self.wide_body, foreach="six")

    @step
    def wide_body(self):
        self.value = self.input
        self.next(self.wide_join)

    @step
    def wide_join(self, inputs):
        self.values = [i.value for i in inputs]
        self.next(self.all_done)

    @step
    def outer_split(self):
        self.rows = [0, 1, 2]
        self.next(self.inner_split, foreach="rows")

    @step
    def inner_split(self):
        self.cols = [f"{self.input}x{c}" for c in range(3)]
        self.next(self.cell, foreach="cols")

    @step
    def cell(self):
        self.value = self.input
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.values = [i.value for i in inputs]
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.values = [v for i in inputs for v in i.values]
        self.next(self.all_done)

    @step
    def item_split(self):
        self.names = ["ok", "boom", "fine"]
        self.next(self.item_body, foreach="names")

    @step
    def item_body(self):
        if self.input == "boom":
            raise RuntimeError(f"item {self.index} ({self.input}) is broken")
        self.value = self.input
        self.next(self.item_join)

    @step
    def item_join(self, inputs):
        self.values = [i.value for i in inputs]
        self.next(self.all_done)

    @step
    def all_done(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    LimitsFlow()
