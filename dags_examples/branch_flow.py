"""Static branch and join: two models trained in parallel, the better one kept."""

from airflow_ml_provider import FlowSpec, flow, resources, step


@flow(dag_id="BranchFlow", tags=["example"])
class BranchFlow(FlowSpec):
    """Train two candidate models side by side and keep the best."""

    @step
    def start(self):
        self.data = list(range(1, 11))
        self.next(self.linear, self.quadratic)

    @resources(cpu=2, memory=2048)
    @step
    def linear(self):
        self.model = "linear"
        self.score = sum(self.data) / len(self.data)
        self.next(self.join)

    @resources(cpu=4, memory=8192, gpu=1)
    @step
    def quadratic(self):
        self.model = "quadratic"
        self.score = sum(x * x for x in self.data) / len(self.data) / 10
        self.next(self.join)

    @step
    def join(self, inputs):
        self.scores = {inp.model: inp.score for inp in inputs}
        self.best = max(inputs, key=lambda inp: inp.score).model
        self.linear_score = inputs.linear.score
        self.merge_artifacts(inputs, include=["data"])
        self.next(self.end)

    @step
    def end(self):
        print(f"best model: {self.best} {self.scores}")


if __name__ == "__main__":
    BranchFlow()
