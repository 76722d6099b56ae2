"""``FlowSpec``: the base class of a flow, with Metaflow's step-facing API.

Artifacts are plain attributes (``self.x = ...``). Inherited artifacts load lazily: reading
``self.model`` in a step fetches that one blob the first time it is touched, so a step that
needs one small value from a parent never pays for its large ones.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from airflow_ml_provider.dsl.current import current
from airflow_ml_provider.dsl.exceptions import MetaflowException

RESERVED_NAMES = frozenset(
    {
        "next", "input", "index", "foreach_stack", "merge_artifacts", "name", "script_name",
        "run", "cmd", "current", "parameters",
    }
)  # fmt: skip


_command_line: Callable[[type], Any] | None = None


def use_command_line(main: Callable[[type], Any]) -> None:
    """Called by the package root with the flow command line (``runtime.flow_cli.main``), which
    ``FlowSpec()`` runs as Metaflow's does; the DSL never imports the runtime itself."""
    global _command_line
    _command_line = main


class MergeArtifactsError(MetaflowException):
    """``merge_artifacts`` could not merge: misuse, conflicting inputs or missing names."""


class UnhandledInMergeArtifactsException(MergeArtifactsError):
    """Join inputs disagree on artifacts (Metaflow's name); ``artifact_names`` lists them."""

    def __init__(self, msg: str, unhandled: list[str]) -> None:
        super().__init__(msg)
        self.artifact_names = unhandled


class MissingInMergeArtifactsException(MergeArtifactsError):
    """``include=`` names artifacts no input has (Metaflow's name); ``artifact_names`` lists them."""

    def __init__(self, msg: str, missing: list[str]) -> None:
        super().__init__(msg)
        self.artifact_names = missing


class InvalidNextError(MetaflowException):
    """A ``self.next(...)`` call that does not match the flow's graph."""


class ArtifactSource:
    """Where a task's inherited artifacts come from; filled in by the runtime.

    ``records`` maps artifact name -> stored record, ``load`` turns a record into a value.
    """

    def __init__(self, records: dict[str, Any] | None = None, load: Any = None) -> None:
        self.records: dict[str, Any] = dict(records or {})
        self.load = load

    def get(self, name: str) -> Any:
        return self.load(self.records[name])


class _TaskView:
    """Lazy, read-only artifacts of one parent task, as seen from a join's ``inputs``."""

    def __init__(self, step: str, task_id: str, source: ArtifactSource, foreach_frame: Any = None) -> None:
        self._step = step
        self._task_id = task_id
        self._source = source
        self._frame = foreach_frame
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._cache:
            if name not in self._source.records:
                raise AttributeError(f"step {self._step!r} task {self._task_id} has no artifact {name!r}")
            self._cache[name] = self._source.get(name)
        return self._cache[name]

    @property
    def index(self) -> int | None:
        return self._frame["index"] if self._frame else None

    def __repr__(self) -> str:
        return f"<inputs {self._step}/{self._task_id}>"


class Inputs:
    """A join's ``inputs``: iterate in foreach order, or ``inputs.<step>`` after a static branch."""

    def __init__(self, views: list[_TaskView]) -> None:
        self._views = views

    def __iter__(self) -> Iterator[_TaskView]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)

    def __getitem__(self, i: int) -> _TaskView:
        return self._views[i]

    def __getattr__(self, step: str) -> _TaskView:
        if step.startswith("_"):
            raise AttributeError(step)
        for view in self._views:
            if view._step == step:
                return view
        raise AttributeError(f"no join input from step {step!r}; inputs: {[v._step for v in self._views]}")


_NOT_CONSTANTS = (types.FunctionType, types.MethodType, types.BuiltinFunctionType, types.ModuleType, property, type)


class ForeachFrame(NamedTuple):
    """One enclosing foreach, as Metaflow's ``_foreach_stack`` frames."""

    step: str | None
    var: str | None
    num_splits: int | None
    index: int | None  # type: ignore[assignment]  # Metaflow's field name; shadows tuple.index
    value: Any


def flow_constants(flow_cls: type) -> dict[str, Any]:
    """Class-level values of a flow (``LR = 0.1``), which Metaflow stores as read-only artifacts.

    Everything defined on the flow class and its bases above ``FlowSpec`` except names starting
    with ``_``, parameters, functions/methods/steps, properties, classes and modules.
    """
    from airflow_ml_provider.dsl.parameters import Parameter

    found: dict[str, Any] = {}
    for klass in reversed(flow_cls.__mro__):
        if klass in FlowSpec.__mro__:
            continue
        for attr in vars(klass):
            if attr.startswith("_"):
                continue
            value = getattr(flow_cls, attr)
            if isinstance(vars(klass)[attr], Parameter) or isinstance(value, _NOT_CONSTANTS):
                found.pop(attr, None)
                continue
            found[attr] = value
    return found


@functools.cache
def _cached_constant_names(flow_cls: Any) -> frozenset[str]:
    return frozenset(flow_constants(flow_cls))


def _constant_names(flow_cls: type) -> frozenset[str]:
    """Names of the flow's class-level constants (computed once per class)."""
    key: Any = flow_cls  # typeshed's Hashable does not accept a class whose instances define __hash__
    return _cached_constant_names(key)


class FlowSpec:
    """Base class of a flow: subclass it and write ``@step`` methods.

    Parameters, class-level constants and FlowSpec's reserved names are read-only in steps:
    assigning one (``self.alpha = 1`` or ``setattr(self, "alpha", 1)``) raises AttributeError at
    run time, as in Metaflow (the graph check also refuses a plain ``self.alpha = ...`` that is
    not inside ``try``/``except AttributeError``). Constants are stored as artifacts of every
    task, so the client sees them as Metaflow's client does.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        from airflow_ml_provider.dsl.flow_decorator import on_flow_class_defined

        on_flow_class_defined(cls)

    def __init__(self, use_cli: bool = True) -> None:
        object.__setattr__(self, "_ml_source", ArtifactSource())
        object.__setattr__(self, "_ml_transition", None)
        object.__setattr__(self, "_ml_foreach_stack", [])
        object.__setattr__(self, "_ml_input_loader", None)
        if not use_cli:  # a step: constants become artifacts of this task
            self.__dict__.update(flow_constants(type(self)))
        if use_cli:  # `python flow.py ...`: the command line registered by the package root
            if _command_line is None:
                raise RuntimeError("no flow command line registered: import airflow_ml_provider, not only its dsl")
            _command_line(type(self))

    # -- artifacts -------------------------------------------------------------------------
    def _ml_get_artifact(self, name: str) -> Any:
        if name in self.__dict__:
            return self.__dict__[name]
        source: ArtifactSource = self.__dict__.get("_ml_source") or ArtifactSource()
        if name in source.records:
            value = source.get(name)
            self.__dict__[name] = value
            return value
        raise AttributeError(f"flow {type(self).__name__} has no artifact {name!r} in this step")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._ml_get_artifact(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in RESERVED_NAMES:
            raise AttributeError(f"self.{name} is reserved by FlowSpec and cannot be assigned; use another name")
        if not name.startswith("_") and name in _constant_names(type(self)):
            raise AttributeError(f"self.{name} is a class-level constant of the flow and is read-only in steps")
        object.__setattr__(self, name, value)  # a Parameter's own __set__ refuses parameters

    def __delattr__(self, name: str) -> None:
        if name in RESERVED_NAMES or (not name.startswith("_") and name in _constant_names(type(self))):
            raise AttributeError(f"self.{name} is read-only in steps and cannot be deleted")
        object.__delattr__(self, name)

    @property
    def name(self) -> str:
        return type(self).__name__

    # -- transitions -----------------------------------------------------------------------
    def next(self, *targets: Any, foreach: str | None = None, condition: str | None = None) -> None:
        """Name the step(s) to run after this one; ``foreach="attr"`` fans out over ``self.attr``;
        ``self.next({"a": self.x, "b": self.y}, condition="attr")`` runs the one case that
        ``self.attr`` names (Metaflow's switch; a value that is not a key fails the step)."""
        if condition is not None or (len(targets) == 1 and isinstance(targets[0], dict)):
            self._ml_switch(targets, foreach, condition)
            return
        if not targets:
            raise InvalidNextError("self.next() needs at least one step")
        names = [self._ml_step_name(target) for target in targets]
        if foreach is not None and (not isinstance(foreach, str) or len(names) != 1):
            raise InvalidNextError("self.next(self.step, foreach='attribute_name') takes one step")
        object.__setattr__(self, "_ml_transition", (names, foreach))

    @staticmethod
    def _ml_step_name(target: Any) -> str:
        func = getattr(target, "__func__", target)
        if not getattr(func, "_ml_step", False):
            raise InvalidNextError(f"self.next({target!r}): argument is not a @step of this flow")
        return func.__name__

    def _ml_switch(self, targets: tuple[Any, ...], foreach: str | None, condition: str | None) -> None:
        step = current.step_name or "?"
        if len(targets) != 1 or not isinstance(targets[0], dict) or not targets[0]:
            raise InvalidNextError(
                f"Step *{step}* has an invalid self.next() transition. When using 'condition', the transition "
                "must be to a single, non-empty dictionary mapping condition values to step methods."
            )
        if condition is None:
            raise InvalidNextError(f"Step *{step}*: a dictionary in self.next() requires the 'condition' parameter.")
        if not isinstance(condition, str) or foreach is not None:
            raise InvalidNextError(
                f"Step *{step}*: condition= must be an attribute name (a string) and cannot be combined with foreach."
            )
        try:
            value = getattr(self, condition)
        except AttributeError:
            raise InvalidNextError(
                f"Condition variable *self.{condition}* in step *{step}* does not exist. "
                f"Make sure you set self.{condition} in this step."
            ) from None
        cases = targets[0]
        if value not in cases:
            raise RuntimeError(
                f"Switch condition variable '{condition}' has value {value!r} which is not in the available "
                f"cases: {list(cases)}"
            )
        chosen = self._ml_step_name(cases[value])
        object.__setattr__(self, "_ml_transition", ([chosen], None))
        object.__setattr__(self, "_ml_switch_choice", {"condition": condition, "value": value, "step": chosen})

    # -- foreach ---------------------------------------------------------------------------
    @property
    def index(self) -> int | None:
        stack = self.__dict__.get("_ml_foreach_stack") or []
        return stack[-1]["index"] if stack else None

    @property
    def input(self) -> Any:
        stack = self.__dict__.get("_ml_foreach_stack") or []
        if not stack:
            return None
        loader = self.__dict__.get("_ml_input_loader")
        return loader(len(stack) - 1) if loader else None

    def foreach_stack(self) -> list[tuple[int, int, Any]]:
        """``(index, num_splits, value)`` for each enclosing foreach, outermost first."""
        stack = self.__dict__.get("_ml_foreach_stack") or []
        loader = self.__dict__.get("_ml_input_loader")
        return [(f["index"], f["num_splits"], loader(i) if loader else None) for i, f in enumerate(stack)]

    @property
    def _foreach_stack(self) -> list[ForeachFrame]:
        """Metaflow's internal frames (``step``, ``var``, ``num_splits``, ``index``, ``value``),
        outermost first; read by code written against Metaflow's internals."""
        stack = self.__dict__.get("_ml_foreach_stack") or []
        return [ForeachFrame(f.get("step"), f.get("var"), f.get("num_splits"), f.get("index"), f.get("value"))
                for f in stack]  # fmt: skip

    @property
    def _current_step(self) -> str | None:
        """The running step's name (Metaflow's internal attribute of the same name)."""
        return current.step_name

    # -- the graph, as Metaflow code reads it ----------------------------------------------
    @property
    def _graph(self) -> Any:
        """The flow's graph (``flow._graph[name].type`` etc., as Metaflow's)."""
        from airflow_ml_provider.graph import build_graph  # lazily: the graph module imports this one

        return build_graph(type(self))

    def __iter__(self) -> Iterator[Any]:
        """The step methods in graph order, each with ``.name`` (Metaflow's ``for step in flow``)."""
        return iter([getattr(self, node.name) for node in self._graph])

    # -- joins -----------------------------------------------------------------------------
    def merge_artifacts(
        self, inputs: Inputs, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> None:
        """Adopt artifacts on which all ``inputs`` agree (compared by content key, nothing loaded).

        As Metaflow: all or nothing. Names already set in this step (or class attributes such as
        parameters and constants) are skipped; if any other name's inputs disagree, nothing is
        merged and :class:`UnhandledInMergeArtifactsException` lists every conflicting name; a name
        in ``include`` that no input has raises :class:`MissingInMergeArtifactsException`. Only a
        join has ``inputs``: anything else raises :class:`MergeArtifactsError`.
        """

        step = current.step_name or "?"
        if not isinstance(inputs, Inputs):
            raise MergeArtifactsError(f"merge_artifacts can only be called in a join and step *{step}* is not a join")
        include_list = list(include or ())
        exclude_set = set(exclude or ())
        if include_list and exclude_set:
            raise MergeArtifactsError("`exclude` and `include` are mutually exclusive in merge_artifacts")
        chosen: dict[str, dict[str, Any]] = {}
        unresolved: list[str] = []
        for view in inputs:
            for name, record in view._source.records.items():
                if (include_list and name not in include_list) or name in exclude_set or self._ml_has(name):
                    continue
                first = chosen.setdefault(name, record)
                if first["key"] != record["key"] and name not in unresolved:
                    unresolved.append(name)
        missing = [n for n in include_list if n not in chosen and not self._ml_has(n)]
        if unresolved:
            raise UnhandledInMergeArtifactsException(
                f"Step *{step}* cannot merge the following artifacts due to them having conflicting values:\n"
                f"[{', '.join(unresolved)}].\nTo remedy this issue, be sure to explicitly set those artifacts "
                "(using self.<artifact_name> = ...) prior to calling merge_artifacts.",
                unresolved,
            )
        if missing:
            raise MissingInMergeArtifactsException(
                f"Step *{step}* specifies that [{', '.join(include_list)}] should be merged but "
                f"[{', '.join(missing)}] are not present.\nTo remedy this issue, make sure that the values "
                "specified in only come from at least one branch",
                missing,
            )
        source: ArtifactSource = self.__dict__["_ml_source"]
        source.records.update(chosen)

    def _ml_has(self, name: str) -> bool:
        """Whether ``self.<name>`` is already defined here (set in this step, or a class attribute)."""
        return name in self.__dict__ or name in self.__dict__["_ml_source"].records or hasattr(type(self), name)
