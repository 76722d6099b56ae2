"""A @catch step whose pod dies in every try (Airflow DAG: PodCatchFlow); see tests/test_pod_failures.py."""

from airflow_ml_provider import FlowSpec, catch, flow, retry, step


@flow(dag_id="PodCatchFlow", default_image="registry.example.com/ml:1")
class PodCatchFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.guarded)

    @catch(var="ex")
    @retry(times=1, minutes_between_retries=0)
    @step
    def guarded(self):
        self.total = sum(self.items)
        self.next(self.end)

    @step
    def end(self):
        self.ended = True
