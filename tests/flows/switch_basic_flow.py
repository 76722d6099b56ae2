"""Metaflow's switch example, only the import swapped (Airflow DAG: SwitchBasicFlow).

start -> switch_step -> one of a / b / c (chosen by the ``case`` parameter) -> end.
"""

from airflow_ml_provider import FlowSpec, Parameter, step


class SwitchBasicFlow(FlowSpec):
    case = Parameter("case", default="case2")

    @step
    def start(self):
        self.x = 1
        self.next(self.switch_step)

    @step
    def switch_step(self):
        self.condition = self.case
        self.next({"case1": self.a, "case2": self.b, "case3": self.c}, condition="condition")

    @step
    def a(self):
        self.path = "a"
        self.next(self.end)

    @step
    def b(self):
        self.path = "b"
        self.next(self.b2)

    @step
    def b2(self):
        self.path = self.path + "+b2"
        self.next(self.end)

    @step
    def c(self):
        self.path = "c"
        self.next(self.end)

    @step
    def end(self):
        print("path", self.path, "x", self.x)


if __name__ == "__main__":
    SwitchBasicFlow()
