"""Steps whose pods die from outside (Airflow DAG: PodFailureFlow); see tests/test_pod_failures.py."""

from airflow_ml_provider import FlowSpec, Parameter, flow, retry, step


@flow(dag_id="PodFailureFlow", default_image="registry.example.com/ml:1")
class PodFailureFlow(FlowSpec):
    fail = Parameter("fail", default=False)

    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.train)

    @retry(times=1, minutes_between_retries=0)
    @step
    def train(self):
        if self.fail:
            raise ValueError("the step itself failed")
        self.total = sum(self.items)
        self.next(self.end)

    @step
    def end(self):
        pass
