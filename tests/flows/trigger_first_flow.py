"""Metaflow's @trigger_on_finish example, upstream half, only the import swapped (DAG FirstFlow)."""

from airflow_ml_provider import FlowSpec, step


class FirstFlow(FlowSpec):
    @step
    def start(self):
        self.model = "m-1"
        self.next(self.end)

    @step
    def end(self):
        print("first flow done")


if __name__ == "__main__":
    FirstFlow()
