"""Every pod option the compiler can generate, one step each (Airflow DAG: SchemaFlow).

tests/test_pod_schemas.py validates each step's pod against the Kubernetes OpenAPI schema.
"""

from airflow_ml_provider import FlowSpec, Parameter, environment, flow, kubernetes, resources, retry, step

AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["gpu"]}]}]
        }
    },
    "podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 50,
                "podAffinityTerm": {
                    "labelSelector": {"matchLabels": {"ml-step": "train"}},
                    "topologyKey": "kubernetes.io/hostname",
                },
            }
        ]
    },
}


@flow(dag_id="SchemaFlow", default_image="registry.example.com/ml:1")
class SchemaFlow(FlowSpec):
    alpha = Parameter("alpha", default=0.5)

    @resources(cpu=0.5, memory=512)
    @step
    def start(self):
        self.items = ["a", "b"]
        self.next(self.nvidia, self.amd, self.placement, self.identity, self.templated)

    @resources(cpu=8, gpu=2, memory=64_000, disk=100_000, shared_memory=2048)
    @step
    def nvidia(self):
        self.next(self.join)

    @kubernetes(gpu=1, gpu_vendor="amd", image_pull_policy="Always")
    @step
    def amd(self):
        self.next(self.join)

    @kubernetes(
        node_selector={"pool": "gpu", "topology.kubernetes.io/zone": "eu-west-1a"},
        tolerations=[
            {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "spot", "operator": "Equal", "value": "true", "effect": "NoExecute", "toleration_seconds": 60},
        ],
        affinity=AFFINITY,
    )
    @retry(times=1, minutes_between_retries=0)
    @step
    def placement(self):
        self.next(self.join)

    @kubernetes(
        namespace="ml",
        service_account="trainer",
        secrets=["s3-creds", "wandb"],
        labels={"team": "search", "app.kubernetes.io/part-of": "ml"},
        annotations={"owner": "ds@example.com", "cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
        image_pull_policy="IfNotPresent",
    )
    @environment(vars={"MODE": "fast", "THREADS": 4})
    @step
    def identity(self):
        self.next(self.join)

    @kubernetes(image="registry.example.com/ml:{{ params.alpha }}", namespace="{{ 'ml-' ~ dag.dag_id | lower }}")
    @step
    def templated(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.fan)

    @step
    def fan(self):
        self.names = ["x", "y"]
        self.next(self.body, foreach="names")

    @kubernetes(gpu=1, disk=1000)
    @resources(shared_memory=256)
    @step
    def body(self):
        self.next(self.fan_join)

    @step
    def fan_join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
