"""Run one task attempt: restore inputs, run the user's step, persist artifacts, record the attempt.

The attempt's metadata file is written last, after every blob, so readers (downstream steps,
the client, the UI) never see half an attempt. A failing step still records what it had set,
its exception and traceback, as a failed attempt.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
import traceback
from datetime import datetime, timezone
from typing import Any

from airflow_ml_provider.datastore import FAILED, SUCCESS, FlowDatastore, StoreError
from airflow_ml_provider.datastore.backend import get_backend
from airflow_ml_provider.datastore.flow_store import write_dag_index
from airflow_ml_provider.datastore.task_logs import format_lines
from airflow_ml_provider.dsl.current import current
from airflow_ml_provider.dsl.exceptions import FailureHandledByCatch, StepException, qualified_name
from airflow_ml_provider.dsl.flowspec import ArtifactSource, FlowSpec
from airflow_ml_provider.dsl.parameters import flow_parameters
from airflow_ml_provider.graph import FlowGraph, build_graph
from airflow_ml_provider.runtime.cards import StepCards
from airflow_ml_provider.runtime.code_package import fetch_package
from airflow_ml_provider.runtime.command import ENV_CONTEXT, RunContext, StepInvocation
from airflow_ml_provider.runtime.heartbeat import Heartbeat
from airflow_ml_provider.runtime.loader import file_hash, load_flow_class
from airflow_ml_provider.runtime.logcapture import attempt_logs
from airflow_ml_provider.runtime.resume import cloned_meta, reusable_attempt
from airflow_ml_provider.runtime.step_guards import has_fallback, is_fallback, step_timeout
from airflow_ml_provider.runtime.switch import switch_record
from airflow_ml_provider.runtime.task_inputs import TaskInputs
from airflow_ml_provider.runtime.topology import check_task_id, child_task_ids


class StepFailed(RuntimeError):
    """The user's step raised; the attempt is recorded as failed."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def log(message: str) -> None:
    print(f"[ml-provider] {message}", flush=True)


def _peak_rss_mb() -> float | None:
    """This process's peak resident memory (VmHWM), to size ``@resources(memory=...)``."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _short_repr(value: Any, limit: int = 100) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TaskRunner(TaskInputs):
    """One attempt of one task; ``run()`` returns the attempt's metadata."""

    def __init__(self, inv: StepInvocation, ctx: RunContext, store: FlowDatastore | None = None) -> None:
        self.inv = inv
        self.ctx = ctx
        self.store = store or FlowDatastore(inv.flow_class, get_backend())
        if inv.code_package:
            inv.flow_file = str(fetch_package(self.store, inv.code_package) / inv.flow_file)
        self.flow_cls = load_flow_class(inv.flow_file, inv.flow_class)
        self.graph: FlowGraph = build_graph(self.flow_cls)
        if inv.step not in self.graph.nodes:
            raise ValueError(f"flow {inv.flow_class} has no step {inv.step!r}")
        check_task_id(self.graph, inv.step, inv.task_id)
        self.node = self.graph[inv.step]
        self._input_cache: dict[int, Any] = {}

    # -- running ---------------------------------------------------------------------------
    def _set_current(self) -> None:
        ctx = self.ctx
        current._set(
            flow_name=self.flow_cls.__name__, run_id=self.inv.run_id, step_name=self.inv.step,
            task_id=self.inv.task_id, retry_count=self.inv.attempt, airflow_run_id=ctx.airflow_run_id,
            dag_id=ctx.dag_id, run_type=ctx.run_type, origin_run_id=ctx.origin_run_id,
            username=ctx.username, tags=list(ctx.tags), logical_date=ctx.logical_date,
            namespace=f"user:{ctx.username}" if ctx.username else None,  # the run's user namespace
            data_interval_start=ctx.data_interval_start, data_interval_end=ctx.data_interval_end,
            parameter_names=[p.name for p in flow_parameters(self.flow_cls).values()],
            execution_mode=ctx.execution.get("mode", "local"), artifact_root=self.store.backend.describe(),
            card=self.cards.collector, trigger=ctx.trigger,
        )  # fmt: skip

    def _start_run_record(self) -> None:
        """The start task writes ``run.json`` once (a retried start finds it and leaves it)."""
        if self.inv.step != "start" or self.store.read_run_record(self.inv.run_id) is not None:
            return
        ctx = self.ctx
        parameters = self._run_parameters
        self.store.create_run(
            self.inv.run_id,
            {
                "flow_name": self.flow_cls.__name__, "run_id": self.inv.run_id,
                "airflow_run_id": ctx.airflow_run_id, "dag_id": ctx.dag_id, "run_type": ctx.run_type,
                "parameters": parameters, "code_package": self.inv.code_package,
                "code_hash": self.inv.code_package or file_hash(self.inv.flow_file),
                "flow_file": os.path.basename(self.inv.flow_file), "created_at": _now(),
                "tags": list(ctx.tags), "driver": "local-runner" if ctx.run_type == "local" else "airflow",
                "logical_date": ctx.logical_date, "origin_run_id": ctx.origin_run_id,
                "resume_step": ctx.resume_step,
                "username": ctx.username, "steps": self.graph.topological_order(), "trigger": ctx.trigger,
            },
        )  # fmt: skip
        if ctx.dag_id:
            write_dag_index(self.store.backend, ctx.dag_id, self.flow_cls.__name__)

    def run(self) -> dict[str, Any]:
        """Run the attempt, its stdout and stderr captured into the store (``runtime/logcapture.py``)."""
        with attempt_logs(self.store, self.inv):
            return self._run()

    def _run(self) -> dict[str, Any]:
        inv = self.inv
        started = time.time()
        base: dict[str, Any] = {
            "flow_name": self.flow_cls.__name__, "run_id": inv.run_id, "step": inv.step,
            "task_id": inv.task_id, "attempt": inv.attempt, "started_at": _now(),
            "execution": {**self.ctx.execution, "host": socket.gethostname(), "pid": os.getpid(),
                          "python_version": platform.python_version()},
            "airflow": {"dag_id": self.ctx.dag_id, "task_id": self.ctx.airflow_task_id,
                        "map_index": self.ctx.map_index, "try_number": self.ctx.try_number},
            "decorators": {k: v.to_dict() for k, v in self.node.decorators.items()},
        }  # fmt: skip
        log(f"{self.flow_cls.__name__}/{inv.run_id}/{inv.step}/{inv.task_id} attempt {inv.attempt} starting")
        self._start_run_record()
        self.store.mark_started(inv.run_id, inv.step, inv.task_id, inv.attempt, base)
        with Heartbeat(lambda: self.store.heartbeat_attempt(inv.run_id, inv.step, inv.task_id, inv.attempt), log):
            return self._run_attempt(base, started)

    def _run_attempt(self, base: dict[str, Any], started: float) -> dict[str, Any]:
        inv = self.inv
        self.cards = StepCards(
            self.node.decorators.get("card"), self.store, (inv.run_id, inv.step, inv.task_id, inv.attempt),
            lambda: {**base, "status": "running"}, flow_parameters(self.flow_cls), log,
        )  # fmt: skip
        self._set_current()
        flow: FlowSpec | None = None
        try:
            parents = self._parents()
            base["parents"] = [f"{p['step']}/{p['task_id']}" for p in parents]
            origin = reusable_attempt(
                self.store, self.graph, self.ctx.origin_run_id, self.ctx.resume_step, inv.step, inv.task_id, parents
            )
            if origin is not None:
                meta = cloned_meta(base, origin, self._foreach_stack(parents), self._child_task_ids)
                log(f"reused {meta['cloned_from']} from origin run {self.ctx.origin_run_id} (no data copied)")
                self._finish(meta, started)
                return meta
            flow, stack = self._make_flow(parents)
            base["foreach_stack"] = stack
            self._run_user_code(flow, parents)
            transition = self._check_transition(flow)
            records, new = self._persist(flow)
            meta = {**base, "status": SUCCESS, "artifacts": records, "new_artifacts": new}
            if transition is not None and self.node.type == "split-switch":
                meta["switch"] = switch_record(flow.__dict__["_ml_switch_choice"])
            elif transition is not None:
                meta["foreach"] = self._split(flow, transition)
        except BaseException as exc:
            meta = self._failed(base, flow, exc)
            self._final_cards(meta, started)
            self._finish(meta, started)
            raise StepFailed(meta["exception"]["message"]) from exc
        self._final_cards(meta, started)
        self._finish(meta, started)
        return meta

    def _final_cards(self, meta: dict[str, Any], started: float) -> None:
        """Cards are final before the attempt reads as ended (``runtime/cards.py``)."""
        if self.cards.slots:
            self.cards.finish({**meta, "finished_at": _now(), "duration_s": round(time.time() - started, 3)})

    def _run_user_code(self, flow: FlowSpec, parents: list[dict[str, Any]]) -> None:
        func = getattr(flow, self.inv.step)
        catch = self.node.decorators.get("catch")
        env = self.node.decorators.get("environment")
        if env is not None:
            os.environ.update({k: str(v) for k, v in env.vars.items()})
        timeout = self.node.decorators.get("timeout")
        inv = self.inv
        try:
            if catch is not None and is_fallback(inv.attempt, inv.max_retries):
                log(f"@catch: every attempt of {inv.step}/{inv.task_id} died without an exception; "
                    "this fallback attempt does not run the step's code")  # fmt: skip
                raise FailureHandledByCatch(inv.attempt)
            with step_timeout(timeout.total_seconds if timeout else None, f"{inv.step} (task-id {inv.task_id})"):
                func(self._inputs(parents)) if self.node.is_join else func()
        except Exception as exc:
            if catch is None or inv.attempt < inv.max_retries or self.node.type == "foreach":
                raise
            if catch.print_exception:
                traceback.print_exc()
            log(f"@catch: step {inv.step} failed with {type(exc).__name__}; the flow goes on")
            if catch.var:
                flow.__dict__[catch.var] = StepException(exc)  # Metaflow's .type/.exception/.stacktrace
            object.__setattr__(flow, "_ml_transition", (list(self.node.out_funcs), None))
        else:
            if catch is not None and catch.var:
                flow.__dict__[catch.var] = None  # as Metaflow: the variable exists, None when nothing failed

    def _check_transition(self, flow: FlowSpec) -> tuple[list[str], str | None] | None:
        got = flow.__dict__.get("_ml_transition")
        if self.node.name == "end":
            return None
        expected = (list(self.node.out_funcs), self.node.foreach_var)
        if got is None:
            raise RuntimeError(f"step {self.inv.step!r} finished without calling self.next(...)")
        if self.node.type == "split-switch":
            choice = flow.__dict__.get("_ml_switch_choice")
            if choice is None or choice["step"] not in self.node.out_funcs:
                raise RuntimeError(
                    f"step {self.inv.step!r} is a switch in its source; it must end with "
                    f"self.next({{...}}, condition={self.node.condition!r})"
                )
            log(f"switch on self.{choice['condition']} = {_short_repr(choice['value'])}: running {choice['step']}")
            return got
        if (list(got[0]), got[1]) != expected:
            raise RuntimeError(
                f"step {self.inv.step!r} called self.next({', '.join(got[0])}, foreach={got[1]!r}) "
                f"but its source says self.next({', '.join(expected[0])}, foreach={expected[1]!r})"
            )
        return got if got[1] else None

    def _persist(self, flow: FlowSpec) -> tuple[dict[str, Any], list[str]]:
        t0 = time.time()
        source: ArtifactSource = flow.__dict__["_ml_source"]
        records = dict(source.records)
        new, written_bytes = [], 0
        for name, value in list(flow.__dict__.items()):
            if name.startswith("_"):
                continue
            try:
                record = self.store.save_artifact(name, value)
            except OSError as exc:  # a full or read-only disk: say where, not a traceback into the store
                raise StoreError(f"could not store artifact {name!r} in {self.store.backend.describe()}: "
                                 f"{exc.strerror or exc}") from exc  # fmt: skip
            if records.get(name, {}).get("key") != record["key"]:
                new.append(name)
            if record.pop("written"):
                written_bytes += record["size"]
            records[name] = record
        log(f"stored {len(records)} artifacts ({len(new)} new or changed, {written_bytes / 1e6:.1f} MB "
            f"written) in {time.time() - t0:.2f}s")  # fmt: skip
        return records, new

    def _split(self, flow: FlowSpec, transition: tuple[list[str], str | None]) -> dict[str, Any]:
        var = transition[1]
        assert var is not None
        try:
            items = getattr(flow, var)
        except AttributeError:
            raise RuntimeError(f"foreach={var!r}: step {self.inv.step!r} did not set self.{var}") from None
        if hasattr(items, "iloc"):  # pandas indexes by label: items[0] is not the first item
            raise TypeError(
                f"foreach={var!r}: self.{var} is a pandas {type(items).__name__}; fan out over a list, e.g. "
                f"self.{var} = self.{var}.tolist() (Series) or list(self.{var}.itertuples()) (DataFrame)"
            )
        if not hasattr(items, "__len__") or not hasattr(items, "__getitem__") or isinstance(items, dict):
            raise TypeError(
                f"foreach={var!r}: self.{var} is a {type(items).__name__}, not a list-like sequence; "
                f"assign a list, e.g. self.{var} = list(...)"
            )
        count = len(items)
        if count == 0:
            raise ValueError(
                f"foreach={var!r}: self.{var} is empty, so there is nothing to fan out over (Metaflow "
                "refuses zero splits too). Guard the split, or give it at least one item."
            )
        limit = self.ctx.max_map_length
        if limit and count > limit:
            raise ValueError(
                f"foreach={var!r}: {count} items exceed --max-num-splits = {limit}. Raise it or split the list "
                "into chunks."
                if self.ctx.run_type == "local"
                else f"foreach={var!r}: {count} items exceed Airflow's [core] max_map_length = {limit}. "
                "Raise it (AIRFLOW__CORE__MAX_MAP_LENGTH) or split the list into chunks."
            )
        task_ids = self._child_task_ids(count)
        values = [_short_repr(items[i]) for i in range(min(count, 10_000))]
        log(f"foreach over self.{var}: {count} tasks")
        return {"var": var, "num_splits": count, "task_ids": task_ids, "values": values}

    def _child_task_ids(self, count: int) -> list[str]:
        return child_task_ids(self.graph, self.inv.step, self.inv.task_id, count)

    def _failed(self, base: dict[str, Any], flow: FlowSpec | None, exc: BaseException) -> dict[str, Any]:
        if isinstance(exc, StoreError):  # the store, not the user's code: one line says it all
            log(f"error: {exc}")
        else:
            traceback.print_exc()
        meta = {**base, "status": FAILED, "artifacts": {}, "new_artifacts": []}
        meta["exception"] = {"type": type(exc).__name__, "qualified_type": qualified_name(type(exc)),
                             "message": str(exc), "traceback": traceback.format_exc()}  # fmt: skip
        if flow is not None:
            try:
                meta["artifacts"], meta["new_artifacts"] = self._persist(flow)
            except Exception as persist_exc:  # keep the original error visible
                log(f"could not store the failed attempt's artifacts: {persist_exc}")
        inv = self.inv
        # with @catch, a last attempt that fails outside the step's code is followed by the fallback attempt
        fallback_next = has_fallback(self.node.decorators, self.node.type)
        meta["final"] = inv.attempt >= inv.max_retries and not (fallback_next and inv.attempt == inv.max_retries)
        return meta

    def _finish(self, meta: dict[str, Any], started: float) -> None:
        meta["finished_at"] = _now()
        meta["duration_s"] = round(time.time() - started, 3)
        meta["peak_rss_mb"] = _peak_rss_mb()
        inv = self.inv
        fenced = self._fenced()
        if fenced:
            log(f"{inv.step}/{inv.task_id} attempt {inv.attempt}: not recorded as {meta['status']}: {fenced}")
            raise StepFailed(fenced)
        self.store.write_attempt(inv.run_id, inv.step, inv.task_id, inv.attempt, meta)
        if meta["status"] == SUCCESS and inv.step == "end":
            self.store.end_run(inv.run_id, SUCCESS)
        elif meta["status"] == FAILED and meta.get("final"):
            exc = meta.get("exception") or {}
            self.store.end_run(inv.run_id, FAILED, f"{inv.step}/{inv.task_id} failed: {exc.get('type')}: "
                                                   f"{exc.get('message')}")  # fmt: skip
        log(f"{inv.step}/{inv.task_id} attempt {inv.attempt}: {meta['status']} in {meta['duration_s']}s")

    def _fenced(self) -> str | None:
        """Why this attempt must not record its end: somebody already did, or the run was declared dead.

        A runner that dies is noticed by readers through its stale heartbeat; a step that outlived
        it (no parent-death signal on this platform, a hung store) must not write into that run.
        """
        inv = self.inv
        if self.store.attempt_ended(inv.run_id, inv.step, inv.task_id, inv.attempt):
            return "this attempt was already recorded as ended (interrupted) by its runner"
        run = self.store.read_run(inv.run_id) or {}
        reason = run.get("status_reason") or ""
        if run.get("status") == FAILED and reason.startswith("no heartbeat"):
            return f"the run was declared dead ({reason})"
        return None


def record_interrupted(
    store: FlowDatastore, flow_name: str, inv: StepInvocation, reason: str, *, fallback: bool = False
) -> bool:
    """Record a failed attempt for a step process that could not (killed, timed out, crashed).

    A no-op when the attempt already ended; returns whether it wrote one. The last allowed attempt
    also marks the run failed, as a step that fails by itself does, unless ``fallback`` (``@catch``
    runs a fallback attempt next, ``runtime/step_guards.py``).
    """
    if store.attempt_ended(inv.run_id, inv.step, inv.task_id, inv.attempt):
        return False
    meta = dict(store.read_attempt(inv.run_id, inv.step, inv.task_id, inv.attempt) or {
        "flow_name": flow_name, "run_id": inv.run_id, "step": inv.step, "task_id": inv.task_id,
        "attempt": inv.attempt})  # fmt: skip
    final = inv.attempt >= inv.max_retries and not (fallback and not is_fallback(inv.attempt, inv.max_retries))
    meta.update(status=FAILED, artifacts={}, new_artifacts=[], final=final,
                exception={"type": "StepInterrupted", "message": reason, "traceback": ""})  # fmt: skip
    meta["finished_at"] = meta.get("finished_at") or _now()  # a started.json holds None
    # the step's stored stderr ends with why it stopped (its own last words may be a crash dump);
    # the step is gone, so this runner is the log's only writer now
    tail = format_lines([f"[ml-provider] the attempt failed: {reason}".encode()], time.time())
    try:  # best effort: the failed attempt below is what must be written
        old = store.read_log(inv.run_id, inv.step, inv.task_id, inv.attempt, "stderr")
        store.write_log(inv.run_id, inv.step, inv.task_id, inv.attempt, "stderr", old + tail)
    except Exception as exc:
        log(f"could not add the reason to {inv.step}/{inv.task_id}'s stderr log: {exc}")
    store.write_attempt(inv.run_id, inv.step, inv.task_id, inv.attempt, meta)
    if meta["final"]:
        store.end_run(inv.run_id, FAILED, f"{inv.step}/{inv.task_id} failed: {reason}")
    return True


def main(argv: list[str]) -> int:
    inv = StepInvocation.from_argv(argv)
    ctx = RunContext.from_env(os.environ.get(ENV_CONTEXT))
    try:
        TaskRunner(inv, ctx).run()
    except StepFailed:
        return 1
    except StoreError as exc:  # the attempt could not even be recorded: its runner records it
        log(f"error: {inv.step}/{inv.task_id} attempt {inv.attempt} could not be recorded: {exc}")
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
