"""A pod that dies without the step writing its attempt is a failed attempt (kubernetes mode).

The operator runs its real ``KubernetesPodOperator.execute`` path; only the calls that would reach
a cluster are replaced, the way the provider's own tests do it (``PodManager.create_pod``,
``read_pod``, ``delete_pod``, ``fetch_requested_container_logs``, ``watch_pod_events`` and
``find_pod``). The Kubernetes client itself is real, built from a kubeconfig pointing at a closed
port. A pod that "runs" executes its exact command and environment as a local process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.execution_time.context import OutletEventAccessors
from kubernetes.client import models as k8s

from tests.fixtures.airflow_local import ROOT, airflow_env

FLOW_FILE = ROOT / "tests" / "flows_k8s" / "pod_failure_flow.py"
NOW = datetime(2026, 12, 3, tzinfo=timezone.utc)


def _status(phase: str, *, reason=None, message=None, terminated=None, waiting=None, containers=True):
    """A V1PodStatus as the API server reports it for the step container ``base``."""
    state = k8s.V1ContainerState(
        terminated=k8s.V1ContainerStateTerminated(**terminated, finished_at=NOW) if terminated else None,
        waiting=k8s.V1ContainerStateWaiting(**waiting) if waiting else None,
    )
    status = k8s.V1ContainerStatus(
        name="base", image="registry.example.com/ml:1", image_id="", ready=False, restart_count=0, state=state
    )
    scheduled = k8s.V1PodCondition(type="PodScheduled", status="True")
    return k8s.V1PodStatus(
        phase=phase, reason=reason, message=message, conditions=[scheduled],
        container_statuses=[status] if containers else None,
    )  # fmt: skip


KINDS = {
    "OOMKilled": (
        _status("Failed", terminated={"exit_code": 137, "reason": "OOMKilled"}),
        "phase Failed, reason OOMKilled, exit code 137",
    ),
    "Evicted": (
        _status(
            "Failed",
            reason="Evicted",
            message="The node was low on resource: memory.",
            terminated={"exit_code": 137, "reason": "ContainerStatusUnknown"},
        ),
        "phase Failed, reason Evicted, exit code 137: The node was low on resource: memory.",
    ),
    "ErrImagePull": (
        _status("Pending", waiting={"reason": "ErrImagePull", "message": "manifest unknown: tag 9 not found"}),
        "phase Pending, reason ErrImagePull: manifest unknown: tag 9 not found",
    ),
    "ImagePullBackOff": (
        _status("Pending", waiting={"reason": "ImagePullBackOff", "message": 'Back-off pulling image "x:9"'}),
        'phase Pending, reason ImagePullBackOff: Back-off pulling image "x:9"',
    ),
    "DeadlineExceeded": (
        _status(
            "Failed",
            reason="DeadlineExceeded",
            message="Pod was active on the node longer than the deadline",
            terminated={"exit_code": 143, "reason": "Error"},
        ),
        "phase Failed, reason DeadlineExceeded, exit code 143: Pod was active on the node longer",
    ),
}


class FakeCluster:
    """Answers the PodManager calls: each created pod gets the next scripted status."""

    def __init__(self) -> None:
        self.script: list[k8s.V1PodStatus | str] = []
        self.pods: dict[str, k8s.V1Pod] = {}
        self.deleted: list[str] = []

    def create_pod(self, pod: k8s.V1Pod) -> k8s.V1Pod:
        outcome = self.script.pop(0)
        if outcome == "run":  # the pod's own command, as the container would run it
            container = pod.spec.containers[0]
            env = airflow_env(**{e.name: e.value for e in container.env})
            done = subprocess.run(
                container.command + container.args, env=env, capture_output=True, text=True, timeout=180,
                cwd=str(Path(sys.executable).parent),
            )  # fmt: skip
            if done.returncode == 0:
                outcome = _status("Succeeded", terminated={"exit_code": 0, "reason": "Completed"})
            else:
                outcome = _status("Failed", terminated={"exit_code": done.returncode, "reason": "Error"})
        remote = k8s.V1Pod(metadata=pod.metadata, spec=pod.spec, status=outcome)
        self.pods[pod.metadata.name] = remote
        return remote

    def read_pod(self, pod: k8s.V1Pod) -> k8s.V1Pod:
        return self.pods[pod.metadata.name]


@pytest.fixture
def cluster(monkeypatch, tmp_path, airflow_home):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.cncf.kubernetes.utils.pod_manager import PodManager

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "none",
        "clusters": [{"name": "none", "cluster": {"server": "http://127.0.0.1:9"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
        "users": [{"name": "none", "user": {"token": "x"}}],
    }))  # fmt: skip
    conn = {"conn_type": "kubernetes", "extra": {"kube_config_path": str(kubeconfig)}}
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__EXECUTION_MODE", "kubernetes")
    fake = FakeCluster()
    from airflow_ml_provider.client import default_namespace, namespace

    namespace(None)  # the runs are triggered by alice

    async def no_events(self, pod, interval=1):
        return None

    monkeypatch.setattr(PodManager, "create_pod", lambda self, pod: fake.create_pod(pod))
    monkeypatch.setattr(PodManager, "read_pod", lambda self, pod: fake.read_pod(pod))
    monkeypatch.setattr(PodManager, "delete_pod", lambda self, pod: fake.deleted.append(pod.metadata.name))
    monkeypatch.setattr(PodManager, "fetch_requested_container_logs", lambda self, pod, **kw: [])
    monkeypatch.setattr(PodManager, "watch_pod_events", no_events)
    monkeypatch.setattr(KubernetesPodOperator, "patch_already_checked", lambda self, pod, **kw: None)
    monkeypatch.setattr(
        KubernetesPodOperator, "find_pod", lambda self, namespace, context, **kw: fake.pods.get(self.pod.metadata.name)
        if self.pod is not None else None,
    )  # fmt: skip
    yield fake
    default_namespace()


@pytest.fixture(scope="module")
def dag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(FLOW_FILE))
    assert not bag.import_errors, bag.import_errors
    return bag.dags["PodFailureFlow"]


def _execute(dag, step: str, run_id: str, try_number: int = 1, params: dict | None = None):
    op = dag.task_dict[step].prepare_for_execution()
    op.startup_timeout_seconds = 2
    op.startup_check_interval_seconds = 0.1
    pushed: dict[str, object] = {}
    ti = SimpleNamespace(
        dag_id=op.dag_id, task_id=op.task_id, try_number=try_number, map_index=-1,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
    )  # fmt: skip
    dag_run = SimpleNamespace(run_type="manual", triggering_user_name="alice", conf={})
    context = {"ti": ti, "run_id": run_id, "dag_run": dag_run, "params": params or {}, "dag": dag, "task": op,
               "outlet_events": OutletEventAccessors()}  # the end task sets its finish asset's event  # fmt: skip
    op.render_template_fields(context)
    return op.execute(context), op, pushed


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_pod_killed_from_outside_is_a_failed_attempt(cluster, dag, kind):
    from airflow_ml_provider.client import Run

    run_id = f"manual__pod-{kind.lower()}"
    cluster.script = ["run", KINDS[kind][0], KINDS[kind][0]]
    _execute(dag, "start", run_id)
    with pytest.raises(Exception) as raised:  # the task fails as Airflow would see it
        _execute(dag, "train", run_id, try_number=2)  # the retried try: attempt 1 is the last
    assert "recorded no successful attempt" not in str(raised.value)
    run = Run(f"PodFailureFlow/{run_id}")
    task = run["train"].task
    assert task.attempt == 1 and task.status == "failed"
    assert task.exception["type"] == "StepInterrupted"
    assert KINDS[kind][1] in task.exception["message"], task.exception["message"]
    assert task.exception["message"].startswith("pod podfailureflow-train-")
    assert run.finished and not run.successful
    assert kind in (run.status_reason or "")


def test_retry_runs_a_new_attempt_after_an_oom_kill(cluster, dag):
    from airflow_ml_provider.client import Run

    run_id = "manual__pod-oom-then-ok"
    cluster.script = ["run", KINDS["OOMKilled"][0], "run", "run"]
    _execute(dag, "start", run_id)
    with pytest.raises(Exception, match=r"returned a failure|Pod"):
        _execute(dag, "train", run_id, try_number=1)
    run = Run(f"PodFailureFlow/{run_id}")
    assert not run.finished  # attempt 0 of 2: the run goes on
    _execute(dag, "train", run_id, try_number=2)
    _execute(dag, "end", run_id)
    attempts = {t.attempt: t for t in run["train"].task.attempts()}
    assert attempts[0].status == "failed" and "reason OOMKilled, exit code 137" in attempts[0].exception["message"]
    assert attempts[1].successful and run["train"].task.data.total == 3
    run = Run(f"PodFailureFlow/{run_id}")
    assert run.successful
    assert cluster.deleted  # the KPO's own cleanup ran for the pods


def test_a_pod_the_api_refuses_is_recorded_with_the_error(cluster, dag, monkeypatch):
    from airflow.providers.cncf.kubernetes.utils.pod_manager import PodManager
    from kubernetes.client.exceptions import ApiException

    from airflow_ml_provider.client import Run

    run_id = "manual__pod-refused"
    cluster.script = ["run"]
    _execute(dag, "start", run_id)

    def refuse(self, pod):
        raise ApiException(status=403, reason="pods is forbidden: exceeded quota: gpu, requested: nvidia.com/gpu=1")

    monkeypatch.setattr(PodManager, "create_pod", refuse)
    with pytest.raises(ApiException):
        _execute(dag, "train", run_id, try_number=2)
    task = Run(f"PodFailureFlow/{run_id}")["train"].task
    assert task.status == "failed" and "exceeded quota" in task.exception["message"]
    assert task.exception["message"].startswith("ApiException")


def test_a_step_that_fails_by_itself_keeps_its_own_record(cluster, dag):
    """The pod failed because the step raised: its own record (the exception) is what readers see."""
    from airflow_ml_provider.client import Run

    run_id = "manual__pod-user-error"
    cluster.script = ["run", "run"]
    _execute(dag, "start", run_id, params={"fail": True})
    with pytest.raises(Exception, match=r"returned a failure|Pod"):
        _execute(dag, "train", run_id, try_number=2)
    task = Run(f"PodFailureFlow/{run_id}")["train"].task
    assert task.status == "failed" and task.exception["type"] == "ValueError"
    assert task.exception["message"] == "the step itself failed"


def test_catch_takes_over_when_the_pod_dies_in_every_try(cluster):
    """Metaflow's @catch fallback: both tries OOM-killed, a third attempt records FailureHandledByCatch."""
    from airflow.dag_processing.dagbag import DagBag

    from airflow_ml_provider.client import Run

    bag = DagBag(dag_folder=str(FLOW_FILE.with_name("pod_catch_flow.py")))
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["PodCatchFlow"]
    run_id = "manual__pod-catch"
    oom = KINDS["OOMKilled"][0]
    cluster.script = ["run", oom, oom, "run"]  # start, two killed tries, end: the fallback makes no pod
    _execute(dag, "start", run_id)
    with pytest.raises(Exception, match=r"returned a failure|Pod"):
        _execute(dag, "guarded", run_id, try_number=1)
    assert not Run(f"PodCatchFlow/{run_id}").finished  # a retry is left
    _execute(dag, "guarded", run_id, try_number=2)  # killed again, then the fallback: the task succeeds
    _execute(dag, "end", run_id)
    run = Run(f"PodCatchFlow/{run_id}")
    task = run["guarded"].task
    assert task.attempt == 2 and task.successful
    assert task.data.ex.type == "metaflow.plugins.catch_decorator.FailureHandledByCatch"
    assert "total" not in task  # the fallback ran none of the step's code
    attempts = {t.attempt: t for t in task.attempts()}
    assert "reason OOMKilled, exit code 137" in attempts[1].exception["message"]
    assert run.successful and run["end"].task.data.ended
