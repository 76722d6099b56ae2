"""Switch shapes (Airflow DAGs: NestedSwitchFlow, SwitchInForeachFlow, ForeachInSwitchFlow,
SwitchInBranchFlow, ForeachInSwitchInForeachFlow), each choosing by a parameter so tests can take every path."""

from airflow_ml_provider import FlowSpec, Parameter, flow, step


@flow(dag_id="NestedSwitchFlow")
class NestedSwitchFlow(FlowSpec):
    outer = Parameter("outer", default="inner")
    inner = Parameter("inner", default="d")

    @step
    def start(self):
        self.route = self.outer
        self.next({"inner": self.switch2, "b": self.b}, condition="route")

    @step
    def switch2(self):
        self.route2 = self.inner
        self.next({"c": self.c, "d": self.d}, condition="route2")

    @step
    def b(self):
        self.path = "b"
        self.next(self.end)

    @step
    def c(self):
        self.path = "c"
        self.next(self.end)

    @step
    def d(self):
        self.path = "d"
        self.next(self.end)

    @step
    def end(self):
        print("path", self.path)


@flow(dag_id="SwitchInForeachFlow")
class SwitchInForeachFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 20, 3, 40]
        self.next(self.classify, foreach="items")

    @step
    def classify(self):
        self.value = self.input
        self.kind = "high" if self.value > 10 else "low"
        self.next({"high": self.high, "low": self.low}, condition="kind")

    @step
    def high(self):
        self.label = f"H{self.value}"
        self.next(self.high2)

    @step
    def high2(self):
        self.label = self.label + "!"
        self.next(self.merge)

    @step
    def low(self):
        self.label = f"L{self.value}"
        self.next(self.merge)

    @step
    def merge(self):
        self.out = f"{self.index}:{self.label}"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.outs = [i.out for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        print("outs", self.outs)


@flow(dag_id="ForeachInSwitchFlow")
class ForeachInSwitchFlow(FlowSpec):
    mode = Parameter("mode", default="process")

    @step
    def start(self):
        self.next({"process": self.process_items, "skip": self.skip_processing}, condition="mode")

    @step
    def process_items(self):
        self.items_to_process = ["item_1", "item_2"]
        self.next(self.do_work, foreach="items_to_process")

    @step
    def do_work(self):
        self.done = self.input.upper()
        self.next(self.join_work)

    @step
    def join_work(self, inputs):
        self.result = [i.done for i in inputs]
        self.next(self.end)

    @step
    def skip_processing(self):
        self.result = "skipped"
        self.next(self.end)

    @step
    def end(self):
        print("result", self.result)


@flow(dag_id="SwitchInBranchFlow")
class SwitchInBranchFlow(FlowSpec):
    condition_value = Parameter("condition_value", default="case1")

    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.condition = self.condition_value
        self.next({"case1": self.c, "case2": self.d}, condition="condition")

    @step
    def b(self):
        self.bv = "b"
        self.next(self.join)

    @step
    def c(self):
        self.cv = "c"
        self.next(self.join)

    @step
    def d(self):
        self.cv = "d"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.seen = sorted(i._step for i in inputs)
        self.cv = next(i.cv for i in inputs if i._step in ("c", "d"))
        self.next(self.end)

    @step
    def end(self):
        print("seen", self.seen, "cv", self.cv)


@flow(dag_id="ForeachInSwitchInForeachFlow")
class ForeachInSwitchInForeachFlow(FlowSpec):
    """A foreach inside a switch case inside a foreach body: odd items fan out again."""

    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.pick, foreach="items")

    @step
    def pick(self):
        self.v = self.input
        self.mode = "fan" if self.v % 2 else "plain"
        self.next({"fan": self.fan, "plain": self.plain}, condition="mode")

    @step
    def fan(self):
        self.parts = [self.v * 10, self.v * 10 + 1]
        self.next(self.part, foreach="parts")

    @step
    def part(self):
        self.p = self.input
        self.next(self.fan_join)

    @step
    def fan_join(self, inputs):
        self.out = [i.p for i in inputs]
        self.next(self.merge)

    @step
    def plain(self):
        self.out = [self.v]
        self.next(self.merge)

    @step
    def merge(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.outs = [i.out for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        print("outs", self.outs)


if __name__ == "__main__":
    import sys

    flows = (
        NestedSwitchFlow, SwitchInForeachFlow, ForeachInSwitchFlow, SwitchInBranchFlow, ForeachInSwitchInForeachFlow
    )  # fmt: skip
    {c.__name__: c for c in flows}[sys.argv.pop(1)]()
