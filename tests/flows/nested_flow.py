"""Three nested foreach levels with a static branch inside the innermost body (Airflow DAG: NestedFlow)."""

from airflow_ml_provider import FlowSpec, flow, step


@flow(dag_id="NestedFlow")
class NestedFlow(FlowSpec):
    @step
    def start(self):
        self.datasets = ["d0", "d1"]
        self.next(self.per_dataset, foreach="datasets")

    @step
    def per_dataset(self):
        self.dataset = self.input
        self.models = ["m0", "m1", "m2"] if self.index == 0 else ["m0"]
        self.next(self.per_model, foreach="models")

    @step
    def per_model(self):
        self.model = self.input
        self.grid = [1, 2]
        self.next(self.fit, foreach="grid")

    @step
    def fit(self):
        self.p = self.input
        self.next(self.score_a, self.score_b)

    @step
    def score_a(self):
        self.a = self.p * 10
        self.next(self.merge)

    @step
    def score_b(self):
        self.b = self.p * 100
        self.next(self.merge)

    @step
    def merge(self, inputs):
        self.merge_artifacts(inputs)
        self.score = inputs.score_a.a + inputs.score_b.b
        self.path = [(i, v) for i, _n, v in self.foreach_stack()]
        self.next(self.join_grid)

    @step
    def join_grid(self, inputs):
        self.scores = [i.score for i in inputs]
        self.paths = [i.path for i in inputs]
        self.merge_artifacts(inputs, include=["dataset", "model"])
        self.next(self.join_models)

    @step
    def join_models(self, inputs):
        self.by_model = {i.model: i.scores for i in inputs}
        self.model_order = [i.model for i in inputs]
        self.merge_artifacts(inputs, include=["dataset"])
        self.next(self.join_datasets)

    @step
    def join_datasets(self, inputs):
        self.result = {i.dataset: i.by_model for i in inputs}
        self.next(self.end)

    @step
    def end(self):
        print(self.result)


if __name__ == "__main__":
    NestedFlow()
