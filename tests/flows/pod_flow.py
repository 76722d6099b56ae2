"""A flow exercising every pod option (Airflow DAG: PodFlow)."""

from airflow_ml_provider import FlowSpec, environment, flow, kubernetes, resources, step, timeout


@flow(dag_id="PodFlow", default_image="registry.example.com/ml:1")
class PodFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.train, foreach="items")

    @kubernetes(
        image="registry.example.com/train:2",
        namespace="ml",
        service_account="trainer",
        node_selector={"pool": "gpu"},
        tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        secrets=["s3-creds"],
        labels={"team": "search"},
        annotations={"owner": "ds"},
        gpu_vendor="amd",
    )
    @resources(cpu=16, gpu=1, memory=200_000, disk=50_000)
    @environment(vars={"MODE": "fast"})
    @timeout(minutes=30)
    @step
    def train(self):
        import os

        self.mode = os.environ["MODE"]
        self.next(self.join)

    @step
    def join(self, inputs):
        self.modes = [i.mode for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass
