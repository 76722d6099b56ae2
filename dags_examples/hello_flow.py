"""A linear flow: the smallest DAG built from a FlowSpec."""

from airflow_ml_provider import FlowSpec, Parameter, current, flow, step


@flow(dag_id="HelloFlow", tags=["example"])
class HelloFlow(FlowSpec):
    """Say hello, count the letters, finish."""

    greeting = Parameter("greeting", default="hello", help="what to say")

    @step
    def start(self):
        self.message = f"{self.greeting}, world"
        print(f"run {current.run_id}: {self.message}")
        self.next(self.count)

    @step
    def count(self):
        self.letters = sum(c.isalpha() for c in self.message)
        self.next(self.end)

    @step
    def end(self):
        print(f"{self.message!r} has {self.letters} letters")


if __name__ == "__main__":
    HelloFlow()
