"""Switch graphs that must be refused at check time (imported by tests/test_switch.py). The names start
with ``_`` so that no DAG is built from them when Airflow parses this folder."""

from airflow_ml_provider import FlowSpec, step


class _RecursiveSwitchFlow(FlowSpec):
    @step
    def start(self):
        self.count = 0
        self.next(self.loop_step)

    @step
    def loop_step(self):
        self.count += 1
        self.loop_status = "continue" if self.count < 3 else "exit"
        self.next({"continue": self.loop_step, "exit": self.exit_loop}, condition="loop_status")

    @step
    def exit_loop(self):
        self.next(self.end)

    @step
    def end(self):
        pass


class _SwitchIntoJoinFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.route = "x"
        self.next({"x": self.join, "y": self.c}, condition="route")

    @step
    def c(self):
        self.next(self.join)

    @step
    def b(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


class _SwitchConditionNotLiteralFlow(FlowSpec):
    @step
    def start(self):
        self.route = "x"
        name = "route"
        self.next({"x": self.a, "y": self.end}, condition=name)

    @step
    def a(self):
        self.next(self.end)

    @step
    def end(self):
        pass
