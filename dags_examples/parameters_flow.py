"""Parameters of every kind: they appear in Airflow's trigger form and as --options locally."""

from airflow_ml_provider import FlowSpec, IncludeFile, JSONType, Parameter, current, flow, step


@flow(dag_id="ParametersFlow", tags=["example"])
class ParametersFlow(FlowSpec):
    """Echo the run's parameters back as artifacts."""

    alpha = Parameter("alpha", default=0.5, help="learning rate")
    epochs = Parameter("epochs", default=3, help="passes over the data")
    model_name = Parameter("model_name", default="baseline", help="label of the model")
    verbose = Parameter("verbose", default=False, help="print more")
    config = Parameter("config", type=JSONType, default='{"layers": [64, 32]}', help="model config")
    notes = IncludeFile("notes", default="data/notes.txt", help="free-text notes shipped with the flow")

    @step
    def start(self):
        self.learning_plan = [self.alpha / (i + 1) for i in range(self.epochs)]
        self.layers = self.config["layers"]
        self.parameter_names = list(current.parameter_names)
        self.next(self.end)

    @step
    def end(self):
        if self.verbose:
            print(self.notes)
        print(f"{self.model_name}: plan {self.learning_plan}, layers {self.layers}")


if __name__ == "__main__":
    ParametersFlow()
