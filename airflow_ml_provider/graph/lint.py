"""Graph checks: every structural mistake is reported with the flow file, line and a fix.

The same errors surface as Airflow DAG import errors (``airflow dags list-import-errors``), from
``python flow.py check``, and when the flow runs locally.
"""

from __future__ import annotations

from airflow_ml_provider.datastore.ids import InvalidIdError, check_id
from airflow_ml_provider.dsl.flowspec import RESERVED_NAMES
from airflow_ml_provider.dsl.parameters import flow_parameters
from airflow_ml_provider.graph.model import FlowGraph, FlowGraphError, StepNode
from airflow_ml_provider.graph.parser import parse_flow


def _check_start_end(graph: FlowGraph, problems: list[str]) -> bool:
    ok = True
    for required in ("start", "end"):
        if required not in graph.nodes:
            problems.append(
                f"{graph.file}:{graph.lineno}: flow {graph.flow_name} has no {required!r} step. Add a method "
                f"`def {required}(self)` decorated with @step; every flow begins at start and finishes at end."
            )
            ok = False
    return ok


def _check_transitions(graph: FlowGraph, problems: list[str]) -> None:
    for node in graph:
        has_next = node.has_next
        if node.name == "end" and has_next:
            problems.append(f"{node.where(node.next_lineno)}: the end step must not call self.next(). Remove it.")
        elif node.name != "end" and not has_next:
            problems.append(
                f"{node.where()}: step {node.name!r} has no self.next(...). End it with "
                "self.next(self.<following step>), or name it end if it finishes the flow."
            )
        for target in node.out_funcs:
            if target not in graph.nodes:
                problems.append(
                    f"{node.where(node.next_lineno)}: step {node.name!r} goes to {target!r}, which is not a "
                    f"step of this flow (steps: {', '.join(sorted(graph.nodes))}). Define it with @step or "
                    "fix the name."
                )
        if node.foreach_var is not None and len(node.out_funcs) != 1:
            problems.append(f"{node.where(node.next_lineno)}: a foreach goes to exactly one step.")
        elif node.foreach_var is not None and node.out_funcs[0] in graph.nodes:
            body = graph.nodes[node.out_funcs[0]]
            if body.is_join:
                problems.append(
                    f"{node.where(node.next_lineno)}: the foreach goes straight to join {body.name!r}, so "
                    "there is no step to run once per item. Add a step between them, e.g. "
                    "`self.next(self.process, foreach=...)` with process going to the join."
                )
        if node.switch_cases is not None:
            _check_switch(graph, node, problems)
        if node.name == "start" and node.is_join:
            problems.append(f"{node.where()}: start cannot be a join: define it as `def start(self)`.")
    for node in graph:
        node.in_funcs = [p.name for p in graph if node.name in p.out_funcs]


def _check_switch(graph: FlowGraph, node: StepNode, problems: list[str]) -> None:
    """Metaflow's switch rules: two or more cases, a condition, no case straight into a join."""
    where = node.where(node.next_lineno)
    if len(node.out_funcs) < 2:
        problems.append(
            f"{where}: step {node.name!r} is a switch with {len(node.out_funcs)} distinct step(s); a switch "
            "needs at least 2. Use self.next(self.<step>) for a single path."
        )
    if node.condition is None:
        return
    for target in node.out_funcs:
        if target in graph.nodes and graph.nodes[target].is_join and target != node.name:
            problems.append(
                f"{where}: switch {node.name!r} goes straight to join {target!r}. A conditional path cannot "
                "lead directly to a join: put an unconditional step on that path before the join."
            )


def _check_reachable_and_acyclic(graph: FlowGraph, problems: list[str]) -> bool:
    seen: set[str] = set()
    stack = ["start"]
    while stack:
        name = stack.pop()
        if name in seen or name not in graph.nodes:
            continue
        seen.add(name)
        stack.extend(graph.nodes[name].out_funcs)
    for node in graph:
        if node.name not in seen:
            problems.append(
                f"{node.where()}: step {node.name!r} is unreachable from start. Call "
                f"self.next(self.{node.name}) from a step, or remove it."
            )
    color: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> bool:
        color[name] = 1
        for child in graph.nodes[name].out_funcs:
            if child not in graph.nodes:
                continue
            if color.get(child) == 1:
                cycle = [*path[path.index(child) :], child] if child in path else [name, child]
                node = graph.nodes[name]
                switches = [s for s in cycle if graph.nodes[s].type == "split-switch"]
                if switches:
                    problems.append(
                        f"{node.where(node.next_lineno)}: recursive switch: switch {switches[0]!r} loops back "
                        f"({' -> '.join(cycle)}). Metaflow can run such a loop, but an Airflow DAG is acyclic, "
                        "so a step cannot run again within one run. Loop inside the step, fan out with a "
                        "foreach, or let the flow trigger its next run (@trigger_on_finish)."
                    )
                    return False
                problems.append(
                    f"{node.where(node.next_lineno)}: the flow has a cycle {' -> '.join(cycle)}. Flows are "
                    "acyclic: use a foreach over the items instead of looping back."
                )
                return False
            if color.get(child) is None and not visit(child, [*path, child]):
                return False
        color[name] = 2
        return True

    return visit("start", ["start"]) and seen == set(graph.nodes)


def _assign_switches(graph: FlowGraph) -> None:
    """Give each step the ``(switch, case)`` pairs it lies inside: a case step adds its pair, a step
    where cases meet keeps only what all its parents share (the switch is over there)."""
    for name in graph.topological_order():
        node = graph.nodes[name]
        stacks = [
            [*graph.nodes[p].switch_stack, *([(p, name)] if graph.nodes[p].type == "split-switch" else [])]
            for p in node.in_funcs
        ]
        common: list[tuple[str, str]] = []
        for pairs in zip(*stacks, strict=False):
            if any(pair != pairs[0] for pair in pairs):
                break
            common.append(pairs[0])
        node.switch_stack = common


def _assign_splits(graph: FlowGraph, problems: list[str]) -> None:
    """Give each step its stack of enclosing splits and match every split with its join."""
    order = graph.topological_order()
    stacks: dict[str, list[str]] = {"start": []}
    for name in order:
        node = graph.nodes[name]
        if name != "start":
            parent_stacks = {tuple(stacks[p]) for p in node.in_funcs if p in stacks}
            if node.is_join:
                if len(parent_stacks) != 1:
                    problems.append(
                        f"{node.where()}: join {name!r} joins steps from different splits "
                        f"({', '.join(node.in_funcs)}). Join each branch or foreach at its own join step."
                    )
                    stacks[name] = []
                    continue
                parent_stack = list(next(iter(parent_stacks)))
                if not parent_stack:
                    problems.append(
                        f"{node.where()}: step {name!r} takes `inputs` but closes no branch or foreach. "
                        f"Define it as `def {name}(self)`."
                    )
                    stacks[name] = []
                    continue
                split = graph.nodes[parent_stack[-1]]
                if split.type == "split" and set(_branch_ends(graph, split.name, stacks)) - set(node.in_funcs):
                    missing = sorted(set(_branch_ends(graph, split.name, stacks)) - set(node.in_funcs))
                    problems.append(
                        f"{node.where()}: join {name!r} does not join every branch of {split.name!r} "
                        f"(missing {', '.join(missing)}). Route all branches into one join."
                    )
                split.matching_join = name
                stacks[name] = parent_stack[:-1]
            else:
                if len(parent_stacks) > 1 or (len(node.in_funcs) > 1 and not graph.merges_switch(name)):
                    problems.append(
                        f"{node.where()}: step {name!r} has {len(node.in_funcs)} parents "
                        f"({', '.join(node.in_funcs)}), so it is a join: define it as "
                        f"`def {name}(self, inputs)`."
                    )
                    stacks[name] = []
                    continue
                stacks[name] = list(next(iter(parent_stacks))) if parent_stacks else []
        node.split_parents = stacks[name]
        if node.is_split:
            stacks[name] = [*stacks[name], name]
    end = graph.nodes.get("end")
    if end is not None and end.split_parents:
        for split_name in end.split_parents:
            split = graph.nodes[split_name]
            kind = "foreach" if split.type == "foreach" else "branch"
            problems.append(
                f"{split.where(split.next_lineno)}: the {kind} started at step {split_name!r} is never "
                "joined. Add a join step `def join(self, inputs)` before end."
            )


def _branch_ends(graph: FlowGraph, split: str, stacks: dict[str, list[str]]) -> list[str]:
    """Steps whose top enclosing split is ``split`` and that lead out of it (join candidates)."""
    ends = []
    for node in graph:
        stack = stacks.get(node.name)
        leads_to_join = any(graph.nodes[c].is_join for c in node.out_funcs if c in graph.nodes)
        if stack and stack[-1] == split and node.name != split and not node.is_split and leads_to_join:
            ends.append(node.name)
    return ends


def _check_parameters(
    flow_cls: type, graph: FlowGraph, assigned: dict[str, dict[str, int]], problems: list[str]
) -> None:
    seen_names: dict[str, str] = {}
    for attr, param in flow_parameters(flow_cls).items():
        file, line = graph.attr_lines.get(attr, (graph.file, graph.lineno))
        if attr in RESERVED_NAMES or attr in graph.nodes:
            problems.append(
                f"{file}:{line}: parameter {attr!r} clashes with a name reserved by FlowSpec or a step. "
                "Rename the attribute."
            )
        if param.name in seen_names:
            problems.append(f"{file}:{line}: two parameters are named {param.name!r}. Rename one.")
        seen_names[param.name] = attr
        for step, names in assigned.items():
            if attr in names:
                node = graph.nodes[step]
                problems.append(
                    f"{node.where(names[attr])}: step {step!r} assigns self.{attr}, which is a Parameter "
                    "(read-only). Use another artifact name."
                )
    for step, names in assigned.items():
        for attr, line in names.items():
            if attr in RESERVED_NAMES:
                problems.append(
                    f"{graph.nodes[step].where(line)}: self.{attr} is reserved by FlowSpec. Use another name."
                )


def _check_names(graph: FlowGraph, problems: list[str]) -> None:
    """Flow and step names become store paths and DAG/task ids: only what those accept."""
    try:
        check_id(graph.flow_name, "flow name")
    except InvalidIdError as exc:
        problems.append(f"{graph.file}:{graph.lineno}: {exc}. Rename the class.")
    for node in graph:
        try:
            check_id(node.name, "step name")
        except InvalidIdError as exc:
            problems.append(f"{node.where()}: {exc}. Rename the step.")


def build_graph(flow_cls: type) -> FlowGraph:
    """Parse and check ``flow_cls``; raise :class:`FlowGraphError` listing every problem."""
    graph, problems, assigned = parse_flow(flow_cls)
    _check_names(graph, problems)
    if _check_start_end(graph, problems):
        _check_transitions(graph, problems)
        if not problems and _check_reachable_and_acyclic(graph, problems):
            _assign_switches(graph)
            _assign_splits(graph, problems)
    _check_parameters(flow_cls, graph, assigned, problems)
    if problems:
        raise FlowGraphError(problems)
    return graph
