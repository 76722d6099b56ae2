"""Every pod the compiler generates, docker/service-deployment.yaml and docker/compose.yaml, validated
against the published schemas: the Kubernetes OpenAPI schema (kubernetes-validate, strict: unknown
fields are errors) for the newest Kubernetes it ships, and the Compose specification's JSON schema
(the copy vendored in the check-jsonschema package, from github.com/compose-spec/compose-spec).

Pods are built by the real KubernetesPodOperator (``build_pod_request_obj(context, dry_run=True)``,
templates rendered the way a worker renders them) and serialized by the Kubernetes ApiClient, i.e.
exactly the JSON body the operator would POST.
"""

from __future__ import annotations

import json
import textwrap
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.fixtures.airflow_local import ROOT

FLOW_FILE = ROOT / "tests" / "flows_k8s" / "schema_flow.py"
K8S_VERSION = kubernetes_validate.latest_version()
RUN_ID = "manual__2026-11-27T21:27:11.135539+00:00_CLq8rl1f"
STEPS = ["start", "nvidia", "amd", "placement", "identity", "templated", "join", "fan", "body", "fan_join", "end"]


def _validate_k8s(body: dict) -> None:
    """Raise with the schema's message when ``body`` is not a valid object of its kind."""
    kubernetes_validate.validate(body, K8S_VERSION, strict=True)


@pytest.fixture(scope="module")
def schema_dag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(FLOW_FILE))
    assert not bag.import_errors, bag.import_errors
    return bag.dags["SchemaFlow"]


def _pod_body(dag, step: str) -> dict:
    """The JSON body the operator would send for ``step`` (a mapped step as its task 1)."""
    from kubernetes.client import ApiClient

    task = dag.task_dict[step]
    op = task.unmap({"foreach_task_id": "1-1"}) if task.is_mapped else task  # foreach path (1,)
    ti = SimpleNamespace(dag_id=op.dag_id, task_id=op.task_id, try_number=2, map_index=1 if task.is_mapped else -1)
    dag_run = SimpleNamespace(run_type="manual", triggering_user_name="alice", conf={})
    context = {"ti": ti, "run_id": RUN_ID, "dag_run": dag_run, "params": {"alpha": 0.5}, "dag": dag}
    op.render_template_fields(context)
    op.prepare(context, "kubernetes")
    with op._no_xcom_sidecar():  # as execute() sends it
        pod = op.build_pod_request_obj(context, dry_run=True)
    return ApiClient().sanitize_for_serialization(pod)


@pytest.fixture(scope="module")
def pods(schema_dag) -> dict[str, dict]:
    return {step: _pod_body(schema_dag, step) for step in STEPS}


def test_kubernetes_version_is_current():
    major, minor, *_ = (int(p) for p in K8S_VERSION.split("."))
    assert (major, minor) >= (1, 33), K8S_VERSION


@pytest.mark.parametrize("step", STEPS)
def test_every_generated_pod_is_a_valid_kubernetes_pod(pods, step):
    body = pods[step]
    assert body["apiVersion"] == "v1" and body["kind"] == "Pod"
    _validate_k8s(body)


def test_each_option_reaches_the_validated_pod(pods):
    def container(step: str) -> dict:
        return pods[step]["spec"]["containers"][0]

    nvidia = container("nvidia")["resources"]
    assert nvidia["limits"] == {"memory": "64000Mi", "nvidia.com/gpu": "2", "ephemeral-storage": "100000Mi"}
    assert nvidia["requests"]["cpu"] == "8"
    shm = [v for v in pods["nvidia"]["spec"]["volumes"] if v["name"] == "dshm"]
    assert shm == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2048Mi"}}]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container("nvidia")["volumeMounts"]
    assert container("amd")["resources"]["limits"]["amd.com/gpu"] == "1"
    assert container("amd")["imagePullPolicy"] == "Always"
    placement = pods["placement"]["spec"]
    assert placement["nodeSelector"] == {"pool": "gpu", "topology.kubernetes.io/zone": "eu-west-1a"}
    assert {"key": "spot", "operator": "Equal", "value": "true", "effect": "NoExecute", "tolerationSeconds": 60} in (
        placement["tolerations"]
    )
    affinity = json.loads(json.dumps(placement["affinity"]))
    terms = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == ["gpu"]
    assert affinity["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 50
    identity = pods["identity"]
    assert identity["metadata"]["namespace"] == "ml"
    assert identity["spec"]["serviceAccountName"] == "trainer"
    assert [e["secretRef"]["name"] for e in container("identity")["envFrom"]] == ["s3-creds", "wandb"]
    assert identity["metadata"]["labels"]["app.kubernetes.io/part-of"] == "ml"
    assert identity["metadata"]["labels"]["ml-step"] == "identity"
    assert identity["metadata"]["annotations"]["owner"] == "ds@example.com"
    env = {e["name"]: e["value"] for e in container("identity")["env"]}
    assert env["MODE"] == "fast" and env["THREADS"] == "4"
    assert container("identity")["imagePullPolicy"] == "IfNotPresent"
    assert container("templated")["image"] == "registry.example.com/ml:0.5"
    assert pods["templated"]["metadata"]["namespace"] == "ml-schemaflow"
    body = container("body")
    assert body["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pods["body"]["metadata"]["labels"]["map_index"] == "1"
    assert not any(m["mountPath"] == "/airflow/xcom" for m in body.get("volumeMounts") or [])  # no sidecar


def test_the_validator_rejects_a_broken_pod(pods):
    """Guard against a validator that accepts anything: a misspelt field and a bad type fail."""
    broken = json.loads(json.dumps(pods["start"]))
    broken["spec"]["containers"][0]["resourcez"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate_k8s(broken)
    broken = json.loads(json.dumps(pods["start"]))
    broken["spec"]["tolerations"] = [{"key": "gpu", "tolerationSeconds": "soon"}]
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate_k8s(broken)


BAD_OPTIONS = {
    "labels={'team': 'data science'}": "labels",
    "labels={'-team': 'ds'}": "-team",
    "node_selector={'pool': 'gpu/large'}": "node_selector",
    "annotations={'bad key!': 'x'}": "bad key!",
    "namespace='ML_Team'": "namespace",
    "service_account='Trainer'": "service_account",
    "secrets=['s3_creds']": "secret name",
    "gpu=1, gpu_vendor='NVIDIA Corp'": "gpu_vendor",
    "tolerations=[{'key': 'gpu', 'operator': 'Exist'}]": "operator",
    "tolerations=[{'key': 'gpu', 'effect': 'NoScheduled'}]": "effect",
    "affinity={'node_affinity': {}}": "affinity.node_affinity",
    "affinity={'nodeAffinity': {'requiredDuringScheduling': {}}}": "requiredDuringScheduling",
}


@pytest.mark.parametrize("option", sorted(BAD_OPTIONS))
def test_values_the_api_server_would_refuse_fail_when_the_dag_is_parsed(tmp_path, airflow_home, option):
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "bad_flow.py").write_text(
        textwrap.dedent(f"""
        from airflow_ml_provider import FlowSpec, flow, kubernetes, step

        @flow(dag_id="BadPodFlow")
        class BadPodFlow(FlowSpec):
            @kubernetes({option})
            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                pass
        """)
    )
    bag = DagBag(dag_folder=str(tmp_path))
    (message,) = bag.import_errors.values()
    assert "ValueError: " in message and BAD_OPTIONS[option] in message, message


def test_service_deployment_objects_are_valid_kubernetes():
    docs = [d for d in yaml.safe_load_all((ROOT / "docker" / "service-deployment.yaml").read_text()) if d]
    assert [d["kind"] for d in docs] == ["ServiceAccount", "Deployment", "Service"]
    for doc in docs:
        _validate_k8s(doc)


def _compose_schema() -> dict:
    """The Compose spec's schema as vendored by check-jsonschema (no download at test time)."""
    path = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(path.read_text())


def test_compose_file_matches_the_compose_specification():
    schema = _compose_schema()
    assert "services" in schema["properties"]
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, errors
    broken = {**compose, "services": {**compose["services"], "minio": {**compose["services"]["minio"], "portz": []}}}
    assert not validator.is_valid(broken)  # the schema does refuse unknown service keys


def test_compose_file_passes_the_check_jsonschema_cli():
    """What a user runs: ``check-jsonschema --builtin-schema vendor.compose-spec docker/compose.yaml``."""
    import subprocess
    import sys

    cli = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(cli), "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker" / "compose.yaml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
