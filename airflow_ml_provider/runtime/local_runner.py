"""``python flow.py run``: the whole flow on this machine, one subprocess per task.

Each task runs the exact step command an Airflow task runs (see ``runtime/command.py``), so a
local run and an Airflow run exercise the same runtime and the same store. Tasks of a step run in
parallel up to ``max_workers``; a step starts when all its parent steps have finished. Step
processes are forked from a warm starter unless ``[ml_provider] local_warm_start`` is off (see
``runtime/warm_start.py``); they run in their own process groups, so an interrupted run
(Ctrl-C, SIGTERM, an exception) terminates the ones still running, records their attempts as
interrupted and the run as failed before it returns. A step process that dies without recording
its attempt (killed, crashed) gets a failed attempt recorded for it, as under Airflow.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from typing import Any

from airflow_ml_provider import config
from airflow_ml_provider.datastore import FAILED, FlowDatastore, get_backend
from airflow_ml_provider.errors import MLProviderError
from airflow_ml_provider.graph import FlowGraph
from airflow_ml_provider.runtime.command import ENV_CONTEXT, STEP_ENV_DEFAULTS, RunContext, StepInvocation, exit_reason
from airflow_ml_provider.runtime.heartbeat import Heartbeat
from airflow_ml_provider.runtime.step_guards import FALLBACK_ATTEMPTS, backstop_seconds, has_fallback
from airflow_ml_provider.runtime.switch import chosen_case
from airflow_ml_provider.runtime.task_runner import record_interrupted
from airflow_ml_provider.runtime.topology import foreach_path, task_id_for
from airflow_ml_provider.runtime.warm_start import prestart, start_step, terminate
from airflow_ml_provider.user import get_username

_print_lock = threading.Lock()


class LocalRunFailed(MLProviderError, RuntimeError):
    pass


def step_base_env() -> dict[str, str]:
    """A local step's environment before the run's context is added: the runner's, over the step
    defaults (``PYTHONHASHSEED=0`` unless set), with unbuffered output."""
    return {**STEP_ENV_DEFAULTS, **os.environ, "PYTHONUNBUFFERED": "1"}


def prestart_steps(flow_file: str) -> None:
    """Bring the warm starter up now (``[ml_provider] local_warm_start``): it imports what the steps
    need (pandas, boto3 for an S3 root) on the other core while the runner checks the store and
    creates the run, instead of after, in front of the first step."""
    if config.local_warm_start():
        prestart(sys.executable, step_base_env(), flow_file, log=LocalRunner._say)


def new_local_run_id() -> str:
    return f"local__{datetime.now(timezone.utc):%Y%m%dT%H%M%S}_{secrets.token_hex(3)}"


class LocalRunner:
    def __init__(
        self,
        flow_cls: type,
        flow_file: str,
        graph: FlowGraph,
        parameters: dict[str, Any],
        *,
        max_workers: int | None = None,
        tags: list[str] | None = None,
        run_id: str | None = None,
        origin_run_id: str | None = None,
        resume_step: str | None = None,
        max_num_splits: int | None = None,
    ) -> None:
        self.flow_cls = flow_cls
        self.flow_file = os.path.abspath(flow_file)
        self.graph = graph
        self.run_id = run_id or new_local_run_id()
        self.max_workers = max_workers or config.max_local_workers() or os.cpu_count() or 2
        user = get_username()
        self.ctx = RunContext(
            parameters=parameters, run_type="local", username=user,
            tags=sorted({f"user:{user}", "run_type:local", *(tags or [])}),
            execution={"mode": "local-cli", "resources_enforced": False},
            origin_run_id=origin_run_id, resume_step=resume_step, max_map_length=max_num_splits,
        )  # fmt: skip
        self.store = FlowDatastore(flow_cls.__name__, get_backend())
        self.warm = config.local_warm_start()
        self.live: dict[Any, StepInvocation] = {}  # step processes running now
        self.stop_reason: str | None = None  # set when the run is being interrupted
        self.ran: dict[str, list[str]] = {}  # step -> task ids that ran (none: skipped by a switch)

    def _task_ids(self, step: str) -> list[str]:
        """The tasks of ``step`` that run: every foreach split, and of a switch only the chosen case
        (a step whose list is empty is skipped, as Airflow skips the cases a switch did not choose)."""
        node = self.graph[step]
        if step == "start":
            return [task_id_for(self.graph, step)]
        split = self.graph.closes_foreach(step)
        if split:
            paths = [foreach_path(t) for t in self.ran.get(split, [])]
        else:
            paths = []
            for parent in node.in_funcs:
                ran = self.ran.get(parent, [])
                if self.graph[parent].type == "foreach":
                    for split_task in ran:
                        meta = self.store.latest_attempt(self.run_id, parent, split_task)
                        paths.extend(foreach_path(t) for t in (meta["foreach"]["task_ids"] if meta else []))
                elif self.graph[parent].type == "split-switch":
                    paths.extend(
                        foreach_path(t) for t in ran if chosen_case(self.store, self.run_id, parent, t) == step
                    )
                else:
                    paths.extend(foreach_path(t) for t in ran)
        return [task_id_for(self.graph, step, p) for p in dict.fromkeys(paths)]

    @staticmethod
    def _say(line: str) -> None:
        with _print_lock:
            sys.stdout.write(line if line.endswith("\n") else line + "\n")
            sys.stdout.flush()

    def _run_task(self, step: str, task_id: str) -> None:
        node = self.graph[step]
        retry = node.decorators.get("retry")
        max_retries = retry.times if retry else 0
        timeout = node.decorators.get("timeout")
        env = {**step_base_env(), ENV_CONTEXT: self.ctx.to_env()}
        # @timeout raises inside the step; the runner kills only a step that ignores it (step_guards.py)
        backstop = backstop_seconds(timeout.total_seconds) if timeout else None
        fallback = has_fallback(node.decorators, node.type)
        attempts = max_retries + 1 + (FALLBACK_ATTEMPTS if fallback else 0)
        for attempt in range(attempts):
            if self.stop_reason:
                raise LocalRunFailed(self.stop_reason)
            inv = StepInvocation(
                self.flow_file, self.flow_cls.__name__, step, self.run_id, task_id, attempt, max_retries
            )
            code, timed_out = self._attempt(inv, env, backstop)
            if code == 0:  # the step recorded its success (even if the timer fired as it ended)
                return
            # A step that crashed, was killed or timed out could not record its attempt: record it here.
            reason = self.stop_reason or f"the step process {exit_reason(code)}"
            if timed_out and timeout is not None:
                reason = (f"@timeout: the step ran longer than {timeout.total_seconds:g}s, ignored the timeout "
                          f"and was killed after {backstop:g}s")  # fmt: skip
            if record_interrupted(self.store, self.flow_cls.__name__, inv, reason, fallback=fallback):
                self._say(f"[{step}/{task_id}] {reason}")  # the step could not say it (a step that failed did)
            if fallback and attempt == max_retries and not self.stop_reason:
                self._say(f"[{step}/{task_id}] @catch: every attempt failed; running the fallback attempt")
        raise LocalRunFailed(f"step {step!r} task {task_id} failed after {attempts} attempt(s)")

    def _attempt(self, inv: StepInvocation, env: dict[str, str], timeout_s: float | None) -> tuple[int, bool]:
        """Run one attempt's process, echoing its output; ``(exit code, whether @timeout stopped it)``."""
        proc = start_step(inv.argv(sys.executable), env, warm=self.warm, log=self._say)
        with _print_lock:
            self.live[proc] = inv
        timed_out = threading.Event()

        def expire() -> None:  # as Airflow's execution_timeout: stop the step, the attempt fails
            timed_out.set()
            terminate(proc, grace=5)

        timer = threading.Timer(timeout_s, expire) if timeout_s else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                self._say(f"[{inv.step}/{inv.task_id}] {line}")
            code = proc.wait()
        finally:
            if timer is not None:
                timer.cancel()
            with _print_lock:
                self.live.pop(proc, None)
        return code, timed_out.is_set()

    def run(self) -> str:
        """Run every step; returns the run id or raises :class:`LocalRunFailed`."""
        print(f"[ml-provider] {self.flow_cls.__name__} run {self.run_id} -> {self.store.backend.describe()}")
        beat = Heartbeat(lambda: self.store.heartbeat_run(self.run_id), lambda m: self._say(f"[ml-provider] {m}"))
        with beat, ThreadPoolExecutor(self.max_workers) as pool, _sigterm_as_interrupt():
            try:
                failure = self._schedule(pool)
            except BaseException as exc:  # Ctrl-C, SIGTERM or a bug: no step may outlive the run
                self._stop(pool, exc)
                raise
        if failure is None and not self.ran.get("end"):  # a bug, never a silent "finished"
            failure = LocalRunFailed(f"no task of step 'end' ran (switch decisions: {self.ran})")
            self.store.end_run(self.run_id, FAILED, str(failure))
        if failure is not None:
            raise LocalRunFailed(f"run {self.run_id} failed: {failure}") from failure
        print(f"[ml-provider] run {self.run_id} finished: {self.flow_cls.__name__}/{self.run_id}")
        return self.run_id

    def _stop(self, pool: ThreadPoolExecutor, exc: BaseException) -> None:
        """Terminate the running steps, record their attempts as interrupted, fail the run."""
        what = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"stopped by {exc!r}"
        self.stop_reason = f"the run was {what}"
        pool.shutdown(wait=False, cancel_futures=True)
        with _print_lock:
            live = dict(self.live)
        for proc, inv in live.items():
            terminate(proc, grace=5)
            record_interrupted(self.store, self.flow_cls.__name__, inv, self.stop_reason)
        try:
            self.store.end_run(self.run_id, FAILED, self.stop_reason)
        except Exception as store_exc:  # the store may be the reason we stop: say so, keep the cause
            print(f"[ml-provider] could not record the run as failed: {store_exc}", file=sys.stderr)
        print(f"[ml-provider] run {self.run_id}: {self.stop_reason}; recorded as failed", file=sys.stderr)

    def _schedule(self, pool: ThreadPoolExecutor) -> BaseException | None:
        """Submit each step's tasks once its parents are done; returns the first failure."""
        pending = list(self.graph.topological_order())
        done: set[str] = set()
        running: dict[str, list[Future[None]]] = {}
        failure: BaseException | None = None
        while (pending and failure is None) or running:
            if failure is None:
                for step in [s for s in pending if all(p in done for p in self.graph[s].in_funcs)]:
                    pending.remove(step)
                    self.ran[step] = self._task_ids(step)
                    if not self.ran[step]:
                        self._say(f"[ml-provider] {step}: skipped (a switch chose another case)")
                    running[step] = [pool.submit(self._run_task, step, t) for t in self.ran[step]]
            if any(fs for fs in running.values()):
                wait([f for fs in running.values() for f in fs], return_when=FIRST_COMPLETED)
            for step, futures in list(running.items()):
                if all(f.done() for f in futures):
                    del running[step]
                    errors = [f.exception() for f in futures if f.exception()]
                    if errors:
                        failure = failure or errors[0]
                    else:
                        done.add(step)
        return failure


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a CI timeout) stops the run like Ctrl-C does: steps ended, run failed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
