# A Metaflow flow whose only change is the import line.
from airflow_ml_provider import FlowSpec, Parameter, step


class MetaflowCompatFlow(FlowSpec):
    """A flow written for Metaflow, run unchanged by airflow-ml-provider."""

    n = Parameter("n", default=3, help="how many squares")

    @step
    def start(self):
        self.numbers = list(range(self.n))
        self.next(self.square, foreach="numbers")

    @step
    def square(self):
        self.value = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.squares = [i.value for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        print("squares:", self.squares)


if __name__ == "__main__":
    MetaflowCompatFlow()
