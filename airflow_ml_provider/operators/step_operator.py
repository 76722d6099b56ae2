"""``FlowStepOperator``: a KubernetesPodOperator that runs one flow step.

It always builds the pod it would send (image, command, env, resources, placement). In
``kubernetes`` execution mode it sends it; in ``local`` mode it runs that pod's exact command and
environment as a subprocess of the worker, streams the output into the task log, and says in the
log and in the task metadata that the requested resources were not enforced. Its XCom return
value is control data only: a split's child task ids, or a foreach body task's own id.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from collections.abc import Iterator
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

from airflow_ml_provider import config
from airflow_ml_provider.datastore import FlowDatastore, encode_run_id, get_backend
from airflow_ml_provider.datastore.records import SUCCESS
from airflow_ml_provider.dsl.parameters import RESERVED_CONF_KEYS
from airflow_ml_provider.operators.asset_events import triggering_events
from airflow_ml_provider.operators.local_process import LocalStepProcess
from airflow_ml_provider.operators.pod_failures import describe_pod_failure
from airflow_ml_provider.runtime.code_package import store_package
from airflow_ml_provider.runtime.command import (
    ENV_ARTIFACT_ROOT,
    ENV_CONTEXT,
    STEP_ENV_DEFAULTS,
    RunContext,
    StepInvocation,
    exit_reason,
)
from airflow_ml_provider.runtime.topology import ForeachPath, foreach_path, format_task_id
from airflow_ml_provider.user import get_username


class StepProcessFailed(RuntimeError):
    """The step's process exited non-zero (its traceback is in the task log above)."""


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None and hasattr(value, "isoformat") else None


class FlowStepOperator(KubernetesPodOperator):
    """One step of a flow as an Airflow task (see the module docstring)."""

    ui_color = "#d9ecf2"
    # Only these pod fields take Jinja (e.g. an image tag from a Variable). Everything else is set
    # by decorators as literal values (Metaflow semantics) or filled in at execute time, and every
    # templated field costs Airflow time per task to record its rendered value (KPO has 22).
    template_fields = ("image", "namespace")

    def __init__(
        self,
        *,
        flow_file: str,
        flow_class: str,
        step_name: str,
        step_type: str,
        step_ordinal: int,
        parameter_names: list[str] | None = None,
        step_resources: dict[str, Any] | None = None,
        foreach_task_id: str | None = None,
        run_tags: list[str] | None = None,
        catch_fallback: bool = False,
        switch_gates: list[tuple[str, str, int]] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", f"{flow_class}-{step_name}".lower().replace("_", "-"))
        kwargs.setdefault("get_logs", True)
        kwargs.setdefault("on_finish_action", "delete_succeeded_pod")
        kwargs.setdefault("cmds", ["python"])
        super().__init__(**kwargs)
        self.flow_file = flow_file
        self.flow_class = flow_class
        self.step_name = step_name
        self.step_type = step_type
        self.step_ordinal = step_ordinal  # its task ids are <ordinal>[-<foreach path>] (runtime/topology.py)
        self.parameter_names = list(parameter_names or [])
        self.step_resources = dict(step_resources or {})
        self.foreach_task_id = foreach_task_id
        self.run_tags = list(run_tags or [])
        self.catch_fallback = catch_fallback  # @catch: a last try that dies gets a fallback attempt
        # (switch, case, switch's step ordinal): this task runs only where each switch chose its case (else: skipped)
        self.switch_gates = [tuple(g) for g in switch_gates or []]
        self.do_xcom_push = True  # our return value; the pod's xcom sidecar is never used

    # -- what the task runs ----------------------------------------------------------------
    @functools.cached_property
    def store(self) -> FlowDatastore:
        """The flow's store, built once per task (an S3 backend builds a client from the connection)."""
        return FlowDatastore(self.flow_class, get_backend())

    def code_package(self, run_id: str) -> str:
        """The run's code: packed now by the start task, read from the run record by the others."""
        store = self.store
        if self.step_name != "start":
            run = store.read_run(run_id)
            if run and run.get("code_package"):
                return run["code_package"]
            self.log.warning("run %s has no recorded code package; packing the current code", run_id)
        key = store_package(store, self.flow_file)
        self.log.info("code package %s (folder of %s)", key[:12], os.path.basename(self.flow_file))
        return key

    def invocation(self, context: Any) -> StepInvocation:
        ti = context["ti"]
        run_id = encode_run_id(context["run_id"])
        return StepInvocation(
            flow_file=os.path.basename(self.flow_file),
            flow_class=self.flow_class,
            step=self.step_name,
            run_id=run_id,
            task_id=self.store_task_id(),
            attempt=max(int(ti.try_number) - 1, 0),
            max_retries=int(self.retries or 0),
            code_package=self.code_package(run_id),
        )

    def foreach_path(self) -> ForeachPath:
        """That of the id this task is mapped over (a split's child or the previous body task), else ()."""
        return foreach_path(str(self.foreach_task_id)) if self.foreach_task_id is not None else ()

    def store_task_id(self) -> str:
        """This task's id in the store and in ``current.task_id``."""
        return format_task_id(self.step_ordinal, self.foreach_path())

    def run_conf(self, dag_run: Any) -> dict[str, Any]:
        """Trigger conf: parameter values plus the reserved keys ``resume_from``, ``resume_step``, ``tags``.

        The start task refuses keys that are neither (a typo would otherwise be silently ignored).
        """
        conf = dict(getattr(dag_run, "conf", None) or {})
        if self.step_name == "start":
            unknown = sorted(set(conf) - set(self.parameter_names) - RESERVED_CONF_KEYS)
            if unknown:
                raise ValueError(
                    f"trigger conf has unknown keys {unknown}; parameters of {self.flow_class} are "
                    f"{sorted(self.parameter_names)}, reserved keys are {sorted(RESERVED_CONF_KEYS)}"
                )
            tags = conf.get("tags", [])
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise ValueError(f"trigger conf 'tags' must be a list of strings, not {tags!r}")
            if conf.get("resume_from"):  # before the run's first record exists: no phantom run
                from airflow_ml_provider.runtime.resume import check_origin

                origin = str(conf["resume_from"])
                check_origin(self.store, encode_run_id(origin), given=origin)
            if conf.get("resume_step") is not None:
                self._check_resume_step(conf)
        return conf

    def _check_resume_step(self, conf: dict[str, Any]) -> None:
        """``resume_step`` names a step of this flow and comes with ``resume_from`` (else it does nothing)."""
        if not conf.get("resume_from"):
            raise ValueError("trigger conf 'resume_step' needs 'resume_from': the run to resume")
        steps = [t for t in self.dag.task_ids if not t.endswith("__fanout")] if self.has_dag() else []
        if steps and conf["resume_step"] not in steps:
            raise ValueError(
                f"cannot resume from step {conf['resume_step']!r}: steps of {self.flow_class} are {', '.join(steps)}"
            )

    def run_context(self, context: Any, mode: str) -> RunContext:
        from airflow.configuration import conf

        dag_run = context["dag_run"]
        run_conf = self.run_conf(dag_run)
        run_type = str(getattr(dag_run, "run_type", "manual")).split(".")[-1].lower()
        # who triggered the run, else the account the task runs as, so the client's default namespace
        # user:<you> shows your runs, as Metaflow's does. `airflow dags test` names its runs' user
        # "dag_test": that is you too.
        user = getattr(dag_run, "triggering_user_name", None)
        if not user or user == "dag_test":
            user = get_username()
        params = context.get("params") or {}
        parameters = {name: params.get(name) for name in self.parameter_names} if self.step_name == "start" else {}
        origin = run_conf.get("resume_from")
        tags = {f"run_type:{run_type}", *([f"user:{user}"] if user else []), *self.run_tags}
        tags.update(run_conf.get("tags") or [])
        return RunContext(
            parameters=parameters,
            dag_id=self.dag_id,
            airflow_run_id=context["run_id"],
            airflow_task_id=self.task_id,
            map_index=-1 if getattr(context["ti"], "map_index", None) is None else int(context["ti"].map_index),
            try_number=int(context["ti"].try_number),
            run_type=run_type,
            logical_date=_iso(context.get("logical_date")),
            data_interval_start=_iso(context.get("data_interval_start")),
            data_interval_end=_iso(context.get("data_interval_end")),
            tags=sorted(tags),
            username=user,
            origin_run_id=encode_run_id(str(origin)) if origin else None,
            resume_step=run_conf.get("resume_step"),
            max_map_length=conf.getint("core", "max_map_length", fallback=1024),
            trigger=triggering_events(context),
            execution={
                "mode": mode,
                "image": self.image,
                "resources": {k: v for k, v in self.step_resources.items() if v is not None},
                "resources_enforced": mode == "kubernetes",
            },
        )

    def prepare(self, context: Any, mode: str) -> StepInvocation:
        """Fill in the pod's command and environment for this task instance."""
        run_context = self.run_context(context, mode)  # validates the trigger conf first
        inv = self.invocation(context)
        self.arguments = inv.argv()[1:]
        # @environment vars: a dict until rendering, V1EnvVar objects after (KPO converts on render)
        if isinstance(self.env_vars, dict):
            env = dict(self.env_vars)
        else:
            env = {e.name: e.value for e in self.env_vars or [] if getattr(e, "value", None) is not None}
        env[ENV_CONTEXT] = run_context.to_env()
        env[ENV_ARTIFACT_ROOT] = config.artifact_root()
        for key in ("include_file_roots", "include_file_max_mb"):  # enforced by the step itself (SECURITY.md)
            if config.get_option(key) != config.OPTIONS[key].default:
                env[f"AIRFLOW__ML_PROVIDER__{key.upper()}"] = config.get_option(key)
        for name, value in STEP_ENV_DEFAULTS.items():
            env.setdefault(name, value)
        if mode == "kubernetes" and env[ENV_ARTIFACT_ROOT].startswith("s3://"):
            env.update(self._s3_public_env())
        self.env_vars = env
        self.labels = {**(self.labels or {}), "ml-flow": self.flow_class.lower()[:63], "ml-step": self.step_name[:63]}
        return inv

    @staticmethod
    def _s3_public_env() -> dict[str, str]:
        """Endpoint and region of the S3 connection for pods; credentials come from secrets or IRSA."""
        from airflow_ml_provider.s3.client import s3_env_for_subprocess

        public = ("AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION")
        return {k: v for k, v in s3_env_for_subprocess(config.get_option("aws_conn_id")).items() if k in public}

    # -- execution -------------------------------------------------------------------------
    def skip_unless_chosen(self, context: Any) -> None:
        """A switch case's task skips itself when the switch (read from the store) chose another case.

        Why not Airflow's BranchMixIn on the switch task: it skips whole downstream tasks, but inside a
        foreach each map index of a switch chooses on its own, so each case task decides for itself.
        """
        from airflow.sdk.exceptions import AirflowSkipException

        from airflow_ml_provider.runtime.switch import gate_open

        task_id, path = self.store_task_id(), self.foreach_path()
        gates = [(switch, case, format_task_id(ordinal, path)) for switch, case, ordinal in self.switch_gates]
        why_not = gate_open(self.store, encode_run_id(context["run_id"]), gates)
        if why_not is not None:
            if self.foreach_task_id is not None:
                context["ml_foreach_label"] = f"{task_id}: skipped"
            self.log.info("skipped: %s", why_not)
            raise AirflowSkipException(why_not)

    def execute(self, context: Any) -> Any:
        if self.switch_gates:
            self.skip_unless_chosen(context)
        mode = config.execution_mode()
        inv = self.prepare(context, mode)
        try:
            try:
                if mode == "kubernetes":
                    self.run_pod(context, inv)
                else:
                    self.run_locally(context, inv)
            except BaseException as exc:
                if not self._falls_back(inv, exc):
                    raise
                inv = self.run_fallback(context, inv, exc)
            value = self.control_value(inv, context)
            if self.outlets:
                self.describe_finish(inv, context)
            return value
        finally:
            if self.foreach_task_id is not None:
                self.set_map_label(inv, context)

    def describe_finish(self, inv: StepInvocation, context: Any) -> None:
        """The end task's finish asset event carries the run (``current.trigger.run`` downstream)."""
        for asset in self.outlets:
            context["outlet_events"][asset].extra = {
                "flow_name": self.flow_class, "run_id": inv.run_id, "pathspec": f"{self.flow_class}/{inv.run_id}",
                "dag_id": self.dag_id, "airflow_run_id": context["run_id"],
            }  # fmt: skip

    def set_map_label(self, inv: StepInvocation, context: Any) -> None:
        """``map_index_template`` label "<task id>: <item>", also for failed tasks (found in the grid)."""
        label = inv.task_id
        try:
            meta = self.store.read_attempt(inv.run_id, inv.step, inv.task_id, inv.attempt)
            stack = (meta or {}).get("foreach_stack") or []
            if stack and stack[-1].get("value") is not None:
                label = f"{inv.task_id}: {stack[-1]['value']}"
        except Exception as exc:  # a label must never hide the task's real outcome
            self.log.warning("no map label for %s: %s", inv.task_id, exc)
        context["ml_foreach_label"] = label

    @contextlib.contextmanager
    def _no_xcom_sidecar(self) -> Iterator[None]:
        """Build or send the pod without KPO's XCom sidecar: the result is read from the store."""
        self.do_xcom_push = False
        try:
            yield
        finally:
            self.do_xcom_push = True

    def run_pod(self, context: Any, inv: StepInvocation) -> None:
        """Send the pod; if it ends without the step recording its attempt, record a failed one.

        A pod killed from outside the step (OOMKilled, Evicted, ErrImagePull/ImagePullBackOff,
        DeadlineExceeded) cannot write its own attempt. The recorded reason carries the pod's phase,
        reason and exit code as Kubernetes reports them, and the task still fails, so ``@retry``
        runs a new attempt exactly as for an exception in the step.
        """
        try:
            with self._no_xcom_sidecar():
                super().execute(context)
        except BaseException as exc:
            self.record_interrupted(inv, describe_pod_failure(self._final_pod_state(), exc))
            raise

    def _final_pod_state(self) -> Any:
        """The pod as the API server last reported it (None when it was never created)."""
        if self.pod is not None:
            try:
                return self.pod_manager.read_pod(self.pod)
            except Exception as exc:  # the reason is still worth recording without the pod
                self.log.warning("could not read pod %s after it ended: %s", self.pod.metadata.name, exc)
        return self.remote_pod

    def run_locally(self, context: Any, inv: StepInvocation) -> None:
        with self._no_xcom_sidecar():
            pod = self.build_pod_request_obj(context, dry_run=True)
        container = pod.spec.containers[0]
        requests = (container.resources.requests or {}) if container.resources else {}
        self.log.info(
            "execution_mode=local: running step %r as a subprocess of this worker; pod %s would request %s "
            "(image %s). Requested resources are NOT enforced locally.",
            self.step_name, pod.metadata.name, requests or "nothing", container.image,
        )  # fmt: skip
        if container.env_from:
            self.log.warning("Kubernetes secrets %s are not available to local steps", container.env_from)
        extra_env: dict[str, str] = {}
        if config.artifact_root().startswith("s3://"):
            from airflow_ml_provider.s3.client import s3_env_for_subprocess

            # credentials of the Airflow connection, for this subprocess only (never in the pod spec)
            extra_env = s3_env_for_subprocess(config.get_option("aws_conn_id"))
        self._local_process = LocalStepProcess(container, extra_env)
        from airflow_ml_provider.datastore.redact import line_masker

        mask = line_masker(extra_env)  # the task log never shows the keys this step was given
        try:
            code = self._local_process.run(lambda line: self.log.info("%s", mask(line)))
        except BaseException as exc:  # timeout or kill: the step process is already stopped
            self.record_interrupted(inv, f"{type(exc).__name__}: {exc}")
            raise
        if code != 0:
            self.record_interrupted(inv, f"the step process {exit_reason(code)}")
            raise StepProcessFailed(f"step {self.step_name!r} exited with code {code}; see the log above")

    def _falls_back(self, inv: StepInvocation, exc: BaseException) -> bool:
        """``@catch`` takes over when the last allowed attempt died (not when a person stopped the task)."""
        stopped = type(exc).__name__ in ("AirflowTaskTerminated", "KeyboardInterrupt", "SystemExit")
        return self.catch_fallback and inv.attempt >= inv.max_retries and not stopped

    def run_fallback(self, context: Any, inv: StepInvocation, exc: BaseException) -> StepInvocation:
        """Run ``@catch``'s fallback attempt in this worker: it runs none of the step's code, only
        records ``FailureHandledByCatch`` and the step's successors (``runtime/step_guards.py``)."""
        fallback = dataclasses.replace(inv, attempt=inv.max_retries + 1)
        self.log.warning(
            "@catch: step %r attempt %s died (%s: %s); running fallback attempt %s in this worker",
            self.step_name, inv.attempt, type(exc).__name__, exc, fallback.attempt,
        )  # fmt: skip
        self.arguments = fallback.argv()[1:]
        self.run_locally(context, fallback)
        return fallback

    def on_kill(self) -> None:
        process = getattr(self, "_local_process", None)
        if process is not None:
            process.stop()
        if config.execution_mode() == "kubernetes":
            super().on_kill()

    def record_interrupted(self, inv: StepInvocation, reason: str) -> None:
        """Record a failed attempt when the step process could not (killed, timed out, crashed)."""
        from airflow_ml_provider.runtime.task_runner import record_interrupted

        if record_interrupted(self.store, self.flow_class, inv, reason, fallback=self.catch_fallback):
            self.log.error("step %r attempt %s interrupted: %s", self.step_name, inv.attempt, reason)

    def control_value(self, inv: StepInvocation, context: Any) -> Any:
        """What downstream mapping needs: child task ids of a split, else this task's id."""
        store = self.store
        meta = store.read_attempt(inv.run_id, inv.step, inv.task_id, inv.attempt)
        if meta is None or meta.get("status") != SUCCESS:
            raise StepProcessFailed(f"step {self.step_name!r} recorded no successful attempt {inv.attempt}")
        if meta.get("foreach"):
            return meta["foreach"]["task_ids"]
        if meta.get("switch"):  # the chosen case, for anyone who reads XCom (the case tasks read the store)
            context["ti"].xcom_push(key="switch", value=meta["switch"]["step"])
        return inv.task_id if self.foreach_task_id is not None else None
