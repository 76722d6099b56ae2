"""A tiny flow with one float artifact that depends on a parameter (``start.score = x / 10``),
for the UI's metric-across-runs view over real runs. Airflow DAG: CardMetricFlow.
"""

from airflow_ml_provider import FlowSpec, Parameter, flow, step


@flow(dag_id="CardMetricFlow")
class CardMetricFlow(FlowSpec):
    x = Parameter("x", default=1.0, help="the run's score is x / 10")

    @step
    def start(self):
        self.score = float(self.x) / 10
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CardMetricFlow()
