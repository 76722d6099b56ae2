"""What a task attempt starts from: its parents' attempts, its foreach frame, its parameters.

A mixin of :class:`~airflow_ml_provider.runtime.task_runner.TaskRunner`, kept apart because
finding inputs (graph position, foreach stacks, switch merges, resumed parameters) is one concern
and running the step is another.
"""

from __future__ import annotations

import functools
from typing import Any

from airflow_ml_provider.datastore import FlowDatastore
from airflow_ml_provider.dsl.flowspec import ArtifactSource, FlowSpec, Inputs, _TaskView
from airflow_ml_provider.dsl.parameters import IncludeFile, flow_parameters
from airflow_ml_provider.graph import FlowGraph, StepNode
from airflow_ml_provider.runtime.command import RunContext, StepInvocation
from airflow_ml_provider.runtime.resume import check_origin
from airflow_ml_provider.runtime.switch import switch_parents
from airflow_ml_provider.runtime.topology import foreach_path, parent_tasks, task_id_for

_INPUT_RECORD = ("key", "serializer", "checksum")  # what a foreach frame keeps of its list's record


class TaskInputs:
    """Input resolution of one attempt (``self.inv``, ``self.ctx``, ``self.store``, ``self.graph``...)."""

    inv: StepInvocation
    ctx: RunContext
    store: FlowDatastore
    graph: FlowGraph
    node: StepNode
    flow_cls: type[FlowSpec]
    _input_cache: dict[int, Any]

    # -- inputs ----------------------------------------------------------------------------
    def _attempt_of(self, step: str, task_id: str) -> dict[str, Any]:
        meta = self.store.latest_attempt(self.inv.run_id, step, task_id)
        if meta is None:
            raise RuntimeError(
                f"no successful attempt of {step}/{task_id} in run {self.inv.run_id}: "
                "the upstream task must succeed first"
            )
        return meta

    def _parents(self) -> list[dict[str, Any]]:
        split_ids = None
        split = self.graph.closes_foreach(self.inv.step)
        if split:
            split_task = task_id_for(self.graph, split, foreach_path(self.inv.task_id))
            split_ids = self._attempt_of(split, split_task)["foreach"]["task_ids"]
        pairs = parent_tasks(self.graph, self.inv.step, self.inv.task_id, split_ids)
        if not self.graph.merges_switch(self.inv.step):
            return [self._attempt_of(s, t) for s, t in pairs]
        return switch_parents(self.store, self.graph, self.inv.run_id, self.inv.step, pairs)

    def _foreach_stack(self, parents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not parents:
            return []
        stack = list(parents[0].get("foreach_stack", []))
        parent = parents[0]
        if self.graph.closes_foreach(self.inv.step):
            return stack[:-1]
        if self.graph[parent["step"]].type == "foreach" and not self.node.is_join:
            info = parent["foreach"]
            index = info["task_ids"].index(self.inv.task_id)
            stack.append(
                {
                    "step": parent["step"], "var": info["var"], "index": index,
                    "num_splits": info["num_splits"], "task_id": parent["task_id"],
                    "record": {k: v for k, v in parent["artifacts"][info["var"]].items() if k in _INPUT_RECORD},
                    "value": info["values"][index] if index < len(info.get("values", [])) else None,
                }
            )  # fmt: skip
        return stack

    def _load_input(self, stack: list[dict[str, Any]]) -> Any:
        def load(level: int) -> Any:
            if level not in self._input_cache:
                frame = stack[level]
                self._input_cache[level] = self.store.load_artifact(frame["record"])[frame["index"]]
            return self._input_cache[level]

        return load

    def _make_flow(self, parents: list[dict[str, Any]]) -> tuple[FlowSpec, list[dict[str, Any]]]:
        flow = self.flow_cls(use_cli=False)
        params = flow_parameters(self.flow_cls)
        stack = self._foreach_stack(parents)
        object.__setattr__(flow, "_ml_foreach_stack", stack)
        object.__setattr__(flow, "_ml_input_loader", self._load_input(stack))
        if not parents:
            self._set_parameters(flow, params)
            return flow, stack
        if self.node.is_join:
            records = {k: v for k, v in parents[0]["artifacts"].items() if k in params}
        else:
            records = dict(parents[0]["artifacts"])
        object.__setattr__(flow, "_ml_source", ArtifactSource(records, self.store.load_artifact))
        return flow, stack

    @functools.cached_property
    def _run_parameters(self) -> dict[str, Any]:
        """The run's parameter values: a resumed run keeps its origin's (as docs/user-guide.md promises)."""
        if self.ctx.origin_run_id:
            origin = check_origin(self.store, self.ctx.origin_run_id).get("parameters")
            if origin is not None:
                return origin
        return self.ctx.parameters or {}

    def _set_parameters(self, flow: FlowSpec, params: dict[str, Any]) -> None:
        given = self._run_parameters
        for attr, param in params.items():
            raw = given.get(param.name, given.get(attr, param.default))
            value = param.convert(raw)
            if isinstance(param, IncludeFile):
                value = param.read(value, self.inv.flow_file)
            flow.__dict__[attr] = value

    def _inputs(self, parents: list[dict[str, Any]]) -> Inputs:
        views = [
            _TaskView(
                p["step"], p["task_id"], ArtifactSource(p["artifacts"], self.store.load_artifact),
                (p.get("foreach_stack") or [None])[-1],
            )
            for p in parents
        ]  # fmt: skip
        return Inputs(views)
