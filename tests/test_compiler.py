"""The compiled DAG: KubernetesPodOperator tasks carrying the steps' pod spec, mapped foreach steps,
and a pod command that runs as a local process exactly as it would in the pod."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fixtures.airflow_local import ROOT, airflow_env

FLOWS = ROOT / "tests" / "flows"


@pytest.fixture(scope="module")
def dagbag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(FLOWS))
    assert not bag.import_errors, bag.import_errors
    return bag


def _context(task: object, run_id: str = "manual__2026-11-27T21:27:11.135539+00:00_CLq8rl1f", map_index: int = -1):
    ti = SimpleNamespace(dag_id=task.dag_id, task_id=task.task_id, try_number=1, map_index=map_index)
    dag_run = SimpleNamespace(run_type="manual", triggering_user_name="alice")
    return {"ti": ti, "run_id": run_id, "dag_run": dag_run, "params": {}, "dag": task.dag}


def test_every_step_is_a_kubernetes_pod_operator(dagbag):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    from airflow_ml_provider.operators import FlowStepOperator

    dag = dagbag.dags["PodFlow"]
    assert set(dag.task_dict) == {"start", "train", "join", "end"}
    start = dag.task_dict["start"]
    assert isinstance(start, FlowStepOperator) and isinstance(start, KubernetesPodOperator)
    train = dag.task_dict["train"]
    assert train.is_mapped and train.operator_class is FlowStepOperator
    assert train.upstream_task_ids == {"start"} and dag.task_dict["join"].upstream_task_ids == {"train"}
    assert start.image == "registry.example.com/ml:1"


def test_pod_spec_carries_resources_placement_and_identity(dagbag):
    dag = dagbag.dags["PodFlow"]
    mapped = dag.task_dict["train"]
    op = mapped.unmap({"foreach_task_id": "2-1"})  # start (ordinal 1) returned ["2-0", "2-1"]
    assert op.execution_timeout == timedelta(minutes=31)  # @timeout(minutes=30), + 60 s for the step to stop itself
    context = _context(op, map_index=1)
    op.prepare(context, "kubernetes")
    pod = op.build_pod_request_obj(context, dry_run=True)
    container = pod.spec.containers[0]
    assert container.image == "registry.example.com/train:2"
    assert container.resources.requests == {
        "cpu": "16", "memory": "200000Mi", "amd.com/gpu": "1", "ephemeral-storage": "50000Mi",
    }  # fmt: skip
    assert container.resources.limits == {"memory": "200000Mi", "amd.com/gpu": "1", "ephemeral-storage": "50000Mi"}
    assert pod.metadata.namespace == "ml"
    assert pod.spec.service_account_name == "trainer"
    assert pod.spec.node_selector == {"pool": "gpu"}
    assert pod.spec.tolerations[0].key == "gpu" and pod.spec.tolerations[0].effect == "NoSchedule"
    assert container.env_from[0].secret_ref.name == "s3-creds"
    labels = pod.metadata.labels
    assert labels["team"] == "search" and labels["ml-step"] == "train" and labels["dag_id"] == "PodFlow"
    assert labels["map_index"] == "1" and all(len(v) <= 63 for v in labels.values())
    assert pod.metadata.annotations == {"owner": "ds"}
    env = {e.name: e.value for e in container.env}
    assert env["MODE"] == "fast"
    ctx = json.loads(env["ML_PROVIDER_CONTEXT"])
    assert ctx["execution"]["resources_enforced"] is True and ctx["dag_id"] == "PodFlow"
    assert container.command == ["python"]
    args = container.args
    assert args[:3] == ["-m", "airflow_ml_provider.runtime", "step"]
    assert args[args.index("--task-id") + 1] == "2-1" and args[args.index("--step") + 1] == "train"
    assert ":" not in args[args.index("--run-id") + 1]
    # no credentials in clear text anywhere in the spec
    assert "AWS_SECRET_ACCESS_KEY" not in json.dumps(pod.to_dict(), default=str)


def test_unknown_kubernetes_option_is_an_import_error(tmp_path):
    flow_file = tmp_path / "bad_pod_flow.py"
    flow_file.write_text(
        "from airflow_ml_provider import FlowSpec, flow, kubernetes, step\n"
        "@flow(dag_id='BadPod')\n"
        "class BadPod(FlowSpec):\n"
        "    @kubernetes(imagee='x')\n"
        "    @step\n"
        "    def start(self):\n"
        "        self.next(self.end)\n"
        "    @step\n"
        "    def end(self):\n"
        "        pass\n"
    )
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(tmp_path))
    (message,) = bag.import_errors.values()
    assert "imagee" in message and "bad_pod_flow.py:4" in message


def test_pod_command_runs_as_a_local_process(dagbag, artifact_root):
    """Run the start pod's exact command and environment; the attempt lands in the store."""
    dag = dagbag.dags["PodFlow"]
    op = dag.task_dict["start"]
    context = _context(op, run_id="manual__pod-command-test")
    op.prepare(context, "kubernetes")
    pod = op.build_pod_request_obj(context, dry_run=True)
    container = pod.spec.containers[0]
    env = airflow_env(**{e.name: e.value for e in container.env})
    proc = subprocess.run(
        container.command + container.args, env=env, capture_output=True, text=True, timeout=120,
        cwd=str(Path(sys.executable).parent),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "start/1 attempt 0: success" in proc.stdout
    assert "import airflow" not in proc.stdout
    from airflow_ml_provider.client import Task

    task = Task("PodFlow/manual__pod-command-test/start/1", _namespace_check=False)  # its run names its user
    assert task.data.items == [1, 2]
    assert task.metadata["foreach"]["task_ids"] == ["2-0", "2-1"]  # train's tasks
    assert op.control_value(op.invocation(context), {}) == ["2-0", "2-1"]


def test_step_process_does_not_import_airflow(tmp_path):
    """A step must not pay `import airflow`: check the runtime module graph in a clean interpreter."""
    code = (
        "import sys, airflow_ml_provider, airflow_ml_provider.runtime.task_runner, "
        "airflow_ml_provider.runtime.local_runner, airflow_ml_provider.client;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('airflow','pandas','pyarrow','boto3')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_schedules_in_every_form(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(FLOWS / "schedule_flows.py"))
    assert not bag.import_errors, bag.import_errors
    assert set(bag.dags) == {"CronFlow", "PresetFlow", "DeltaFlow", "MetaflowScheduleFlow", "TzFlow"}
    assert bag.dags["CronFlow"].schedule == "0 4 * * *"
    preset = bag.dags["PresetFlow"]
    assert preset.schedule == "@hourly" and preset.catchup is True and preset.max_active_runs == 2
    assert bag.dags["DeltaFlow"].schedule == timedelta(hours=6)
    assert bag.dags["MetaflowScheduleFlow"].schedule == "@daily"
    tz = bag.dags["TzFlow"]
    assert tz.timetable.expression == "30 2 * * 1" and str(tz.timetable.timezone) == "Europe/Paris"
    assert tz.tags == {"ml-flow", "tz"}
    # the flow's class hierarchy shares steps; each DAG still has its own tasks
    assert set(bag.dags["DeltaFlow"].task_dict) == {"start", "end"}


def test_a_single_tag_string_is_one_tag() -> None:
    from airflow_ml_provider import FlowSpec, flow, step
    from airflow_ml_provider.dsl.flow_decorator import flow_options

    @flow(tags="ml")
    class OneTag(FlowSpec):
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert flow_options(OneTag).tags == ("ml",)  # not ("m", "l")
