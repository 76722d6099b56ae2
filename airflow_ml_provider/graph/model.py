"""The flow graph: steps and transitions, independent of Airflow and of execution."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from airflow_ml_provider.errors import MLProviderError


class FlowGraphError(MLProviderError):
    """One or more structural errors in a flow, each as ``file:line: problem. How to fix.``"""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        head = (
            problems[0]
            if len(problems) == 1
            else f"{len(problems)} problems in flow:\n" + "\n".join(f"  - {p}" for p in problems)
        )
        super().__init__(head)


@dataclass
class StepNode:
    """One ``@step`` method and where it leads."""

    name: str
    file: str
    lineno: int
    next_lineno: int | None
    out_funcs: list[str]
    foreach_var: str | None
    is_join: bool
    doc: str | None = None
    has_next: bool = False
    decorators: dict[str, Any] = field(default_factory=dict)
    switch_cases: dict[Any, str] | None = None
    condition: str | None = None
    in_funcs: list[str] = field(default_factory=list)
    split_parents: list[str] = field(default_factory=list)
    matching_join: str | None = None
    # (switch step, case step) pairs this step lies inside, outermost first (see lint._assign_switches)
    switch_stack: list[tuple[str, str]] = field(default_factory=list)

    @property
    def type(self) -> str:
        """``start``, ``end``, ``linear``, ``split`` (static), ``foreach``, ``split-switch`` or ``join``
        (as Metaflow). A switch is not a split: exactly one case runs, so nothing is joined after it."""
        if self.is_join:
            return "join"
        if self.switch_cases is not None:
            return "split-switch"
        if self.foreach_var is not None:
            return "foreach"
        if len(self.out_funcs) > 1:
            return "split"
        if self.name == "end":
            return "end"
        if self.name == "start":
            return "start"
        return "linear"

    @property
    def parallel_step(self) -> bool:
        """Always False: ``@parallel`` is not supported (Metaflow code reads the attribute)."""
        return False

    @property
    def is_split(self) -> bool:
        return self.type in ("split", "foreach")

    def where(self, line: int | None = None) -> str:
        return f"{self.file}:{line or self.lineno}"


@dataclass
class FlowGraph:
    """Steps by name plus derived structure (parents, enclosing splits, foreach depth)."""

    flow_name: str
    file: str
    nodes: dict[str, StepNode]
    doc: str | None = None
    lineno: int = 1
    attr_lines: dict[str, tuple[str, int]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> StepNode:
        return self.nodes[name]

    def __iter__(self) -> Iterator[StepNode]:
        return iter(self.nodes.values())

    def foreach_depth(self, name: str) -> int:
        """Number of enclosing foreach splits (0 outside any foreach)."""
        return sum(1 for s in self.nodes[name].split_parents if self.nodes[s].type == "foreach")

    def enclosing_foreach(self, name: str) -> list[str]:
        return [s for s in self.nodes[name].split_parents if self.nodes[s].type == "foreach"]

    def closes_foreach(self, name: str) -> str | None:
        """The foreach split that join ``name`` closes, if any."""
        node = self.nodes[name]
        if not node.is_join:
            return None
        parent = self.nodes[node.in_funcs[0]]
        split = parent.split_parents[-1] if parent.split_parents else None
        return split if split and self.nodes[split].type == "foreach" else None

    def merges_switch(self, name: str) -> bool:
        """Whether step ``name`` is where switch cases meet (some parents may not have run)."""
        node = self.nodes[name]
        depth = len(node.switch_stack)
        return any(
            self.nodes[p].type == "split-switch" or len(self.nodes[p].switch_stack) > depth for p in node.in_funcs
        )

    def switch_gates(self, name: str) -> list[tuple[str, str]]:
        """Enclosing ``(switch, case step)`` pairs whose switch runs at this step's foreach depth:
        a task of this step runs only if, for its task id, each of those switches chose that case."""
        depth = self.foreach_depth(name)
        return [(sw, case) for sw, case in self.nodes[name].switch_stack if self.foreach_depth(sw) == depth]

    @functools.cached_property
    def step_ordinals(self) -> dict[str, int]:
        """1-based place of each step in :meth:`topological_order`, which task ids are built from.

        Computed once, on first use (DAG building and every task id ask for it); the graph is
        complete by then (``build_graph`` returns it linted, ``in_funcs`` filled in)."""
        return {name: i for i, name in enumerate(self.topological_order(), 1)}

    def topological_order(self) -> list[str]:
        order: list[str] = []
        indegree = {n: len(node.in_funcs) for n, node in self.nodes.items()}
        ready = [n for n, d in indegree.items() if d == 0]
        while ready:
            name = ready.pop(0)
            order.append(name)
            for child in self.nodes[name].out_funcs:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        return order

    def describe(self) -> str:
        """Human-readable listing of the steps (``python flow.py show``)."""
        lines = [f"{self.flow_name}" + (f": {self.doc.strip().splitlines()[0]}" if self.doc else "")]
        for name in self.topological_order():
            node = self.nodes[name]
            arrow = ", ".join(node.out_funcs) or "(end of flow)"
            extra = f" foreach over self.{node.foreach_var}" if node.foreach_var else ""
            if node.switch_cases is not None:
                cases = ", ".join(f"{k!r}: {v}" for k, v in node.switch_cases.items())
                extra = f" switch on self.{node.condition} {{{cases}}}"
            deco = "".join(f" @{d}" for d in node.decorators)
            lines.append(f"  {name} [{node.type}]{deco} -> {arrow}{extra}")
            if node.doc:
                lines.append(f"      {node.doc.strip().splitlines()[0]}")
        return "\n".join(lines)
