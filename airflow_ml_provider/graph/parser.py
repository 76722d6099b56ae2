"""Build a :class:`FlowGraph` from a flow class by reading its source with ``ast``.

Reading the source (as Metaflow's ``graph.py`` does) gives every error a file and line and lets
the graph be known without running any step. Steps are found on the class and its bases.
"""

from __future__ import annotations

import ast
import inspect
import os
from functools import lru_cache
from typing import Any, TypeGuard, cast

from airflow_ml_provider.graph.model import FlowGraph, StepNode


@lru_cache(maxsize=64)
def _module_ast(path: str, mtime_key: float) -> ast.Module:
    with open(path, encoding="utf-8") as fh:
        return ast.parse(fh.read(), filename=path)


@lru_cache(maxsize=64)
def _class_defs(path: str, mtime_key: float) -> dict[str, list[ast.ClassDef]]:
    """Every class definition of a file by name (one walk of the tree per file version)."""
    found: dict[str, list[ast.ClassDef]] = {}
    for node in ast.walk(_module_ast(path, mtime_key)):
        if isinstance(node, ast.ClassDef):
            found.setdefault(node.name, []).append(node)
    return found


def _class_def(klass: type) -> tuple[str, ast.ClassDef]:
    path = inspect.getsourcefile(klass) or inspect.getfile(klass)
    lineno = getattr(klass, "__firstlineno__", None)
    candidates = list(_class_defs(path, os.path.getmtime(path)).get(klass.__name__, []))
    if not candidates:
        raise OSError(f"cannot find the source of class {klass.__name__} in {path}")
    if lineno is not None:
        candidates.sort(key=lambda n: abs(n.lineno - lineno))
    return path, candidates[0]


def _is_self_attr(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    return None


def _is_next_call(node: ast.AST) -> TypeGuard[ast.Call]:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "next"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "self"
    )


def _guarded_by_attribute_error(func: ast.FunctionDef) -> set[int]:
    """Ids of nodes inside a ``try`` body whose handlers catch AttributeError (or any exception)."""
    guarded: set[int] = set()
    for node in ast.walk(func):
        if not isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            continue
        node = cast(ast.Try, node)  # ast.TryStar (3.11+) has the same fields
        caught: list[str] = []
        for handler in node.handlers:
            kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            caught += ["BaseException" if k is None else ast.unparse(k).rsplit(".", 1)[-1] for k in kinds]
        if {"AttributeError", "Exception", "BaseException"} & set(caught):
            guarded.update(id(sub) for stmt in node.body for sub in ast.walk(stmt))
    return guarded


class ParsedStep:
    """AST facts about one step function, before graph-wide checks."""

    def __init__(self, path: str, func: ast.FunctionDef) -> None:
        self.path = path
        self.func = func
        self.problems: list[str] = []
        self.out_funcs: list[str] = []
        self.foreach_var: str | None = None
        self.switch_cases: dict[Any, str] | None = None
        self.condition: str | None = None
        self.next_lineno: int | None = None
        self.has_next = False
        self.assigned: dict[str, int] = {}
        self._parse()

    def _parse(self) -> None:
        f = self.func
        last = f.body[-1] if f.body else None
        next_calls = [n for n in ast.walk(f) if _is_next_call(n)]
        last_call = last.value if isinstance(last, ast.Expr) and _is_next_call(last.value) else None
        for call in next_calls:
            if call is not last_call:
                self.problems.append(
                    f"{self.path}:{call.lineno}: step {f.name!r} calls self.next() before its last "
                    "statement. Make self.next(...) the single last line of the step."
                )
        guarded = _guarded_by_attribute_error(f)
        for node in ast.walk(f):
            if id(node) in guarded:  # Metaflow code that expects the AttributeError; the runtime raises it
                continue
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    attr = _is_self_attr(sub)
                    if attr and isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store):
                        self.assigned.setdefault(attr, sub.lineno)
        if last_call is None:
            return
        self.has_next = True
        self.next_lineno = last_call.lineno
        if last_call.args and isinstance(last_call.args[0], ast.Dict):
            self._parse_switch(last_call)
            return
        for arg in last_call.args:
            name = _is_self_attr(arg)
            if name is None:
                self.problems.append(
                    f"{self.path}:{last_call.lineno}: step {f.name!r}: self.next() arguments must be "
                    f"steps written as self.<step>, not {ast.unparse(arg)!r}."
                )
            else:
                self.out_funcs.append(name)
        for kw in last_call.keywords:
            if kw.arg == "foreach":
                if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    self.foreach_var = kw.value.value
                else:
                    self.problems.append(
                        f"{self.path}:{last_call.lineno}: step {f.name!r}: foreach= must be a literal "
                        f"attribute name such as foreach='items', not {ast.unparse(kw.value)}. Assign "
                        "the list to self.items first."
                    )
            else:
                self.problems.append(
                    f"{self.path}:{last_call.lineno}: step {f.name!r}: self.next() has no option "
                    f"{kw.arg!r}; the options are foreach='attribute' and, with a dict of cases, "
                    "condition='attribute'."
                )

    def _parse_switch(self, call: ast.Call) -> None:
        """``self.next({"a": self.x, "b": self.y}, condition="var")``: Metaflow's switch (2.17+)."""
        where = f"{self.path}:{call.lineno}: step {self.func.name!r}"
        cases: dict[Any, str] = {}
        arg = call.args[0]
        assert isinstance(arg, ast.Dict)
        for key, value in zip(arg.keys, arg.values, strict=True):
            target = _is_self_attr(value) if value is not None else None
            if not isinstance(key, ast.Constant) or target is None:
                self.problems.append(
                    f"{where}: a switch maps literal keys (strings or numbers) to steps written as "
                    f"self.<step>, not {ast.unparse(key) if key is not None else '**'}: "
                    f"{ast.unparse(value)}."
                )
                continue
            cases[key.value] = target
        kws = {kw.arg: kw.value for kw in call.keywords}
        cond = kws.pop("condition", None)
        if len(call.args) != 1 or kws or cond is None:
            self.problems.append(
                f"{where}: a switch is self.next({{'key': self.step, ...}}, condition='attribute') with "
                "one dict and no other option (no foreach)."
            )
        if cond is not None and not (isinstance(cond, ast.Constant) and isinstance(cond.value, str)):
            self.problems.append(
                f"{where}: condition= must be a literal attribute name such as condition='route', "
                f"not {ast.unparse(cond)}."
            )
        elif cond is not None:
            self.condition = str(cond.value)  # a str constant, checked above
        self.switch_cases = cases
        self.out_funcs = list(dict.fromkeys(cases.values()))


def step_functions(flow_cls: type) -> dict[str, tuple[type, Any]]:
    """``name -> (defining class, function)`` for every @step of the flow (subclass wins)."""
    found: dict[str, tuple[type, Any]] = {}
    for klass in reversed(flow_cls.__mro__):
        for name, value in vars(klass).items():
            if callable(value) and getattr(value, "_ml_step", False):
                found[name] = (klass, value)
    return found


def parse_flow(flow_cls: type) -> tuple[FlowGraph, list[str], dict[str, dict[str, int]]]:
    """Return the raw graph, parse problems, and ``step -> {artifact: line}`` assignments."""
    problems: list[str] = []
    nodes: dict[str, StepNode] = {}
    assigned: dict[str, dict[str, int]] = {}
    flow_file, flow_def = _class_def(flow_cls)
    class_defs: dict[type, tuple[str, ast.ClassDef]] = {}
    for name, (klass, func) in step_functions(flow_cls).items():
        if klass not in class_defs:
            class_defs[klass] = _class_def(klass)
        path, class_def = class_defs[klass]
        func_def = next(
            (n for n in class_def.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name),
            None,
        )
        if func_def is None or isinstance(func_def, ast.AsyncFunctionDef):
            problems.append(f"{path}:{class_def.lineno}: step {name!r} must be a plain `def` method.")
            continue
        parsed = ParsedStep(path, func_def)
        problems.extend(parsed.problems)
        n_args = len(func_def.args.args)
        if n_args not in (1, 2) or func_def.args.vararg or func_def.args.kwonlyargs:
            problems.append(f"{path}:{func_def.lineno}: step {name!r} must take (self) or, for a join, (self, inputs).")
        nodes[name] = StepNode(
            name=name,
            file=path,
            lineno=func_def.lineno,
            next_lineno=parsed.next_lineno,
            out_funcs=parsed.out_funcs,
            foreach_var=parsed.foreach_var,
            switch_cases=parsed.switch_cases,
            condition=parsed.condition,
            is_join=n_args == 2,
            doc=inspect.getdoc(func),
            has_next=parsed.has_next,
            decorators=dict(getattr(func, "_ml_decorators", {})),
        )
        assigned[name] = parsed.assigned
    doc = inspect.cleandoc(flow_cls.__dict__.get("__doc__") or "") or None
    graph = FlowGraph(flow_name=flow_cls.__name__, file=flow_file, nodes=nodes, doc=doc, lineno=flow_def.lineno)
    for path, class_def in [_class_def(flow_cls), *class_defs.values()]:
        for stmt in class_def.body:
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        graph.attr_lines.setdefault(target.id, (path, stmt.lineno))
    return graph, problems, assigned
