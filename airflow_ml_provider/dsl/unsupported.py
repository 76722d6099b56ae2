"""Metaflow names this package does not implement: importable, and a clear error when used.

Code written for Metaflow often imports more than it uses (Metaflow's own test generator imports
``Config``, ``parallel`` and the mutator API into every flow). Importing works here; using one
raises :class:`UnsupportedFeatureError` saying what to do instead. The user guide's compatibility
table lists each.
"""

from __future__ import annotations

from typing import Any, NoReturn

from airflow_ml_provider.errors import MLProviderError


class UnsupportedFeatureError(MLProviderError, NotImplementedError):
    """A Metaflow feature airflow-ml-provider does not provide."""


WHY = {
    "Config": "configs are not supported yet; use a Parameter (JSONType for structured values) or "
    "IncludeFile for a file",
    "config_expr": "configs are not supported yet; use a Parameter (JSONType) instead",
    "parallel": "@parallel (gang-scheduled multi-node steps) is not supported; use a foreach, or one "
    "larger pod with @resources",
    "FlowMutator": "flow mutators are not supported; write the decorators on the flow",
    "StepMutator": "step mutators are not supported; write the decorators on the steps",
    "UserStepDecorator": "user step decorators are not supported; call a helper function inside the step",
    "user_step_decorator": "user step decorators are not supported; call a helper function inside the step",
}


def _refuse(name: str) -> NoReturn:
    raise UnsupportedFeatureError(f"{name}: {WHY[name]} (airflow-ml-provider)")


class _RefusedBase:
    """A base class a user would subclass (mutators): refused at the class statement."""

    _ml_name = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if "_ml_name" not in cls.__dict__:  # the user's subclass, not the named class itself
            _refuse(cls._ml_name)


def _refused_function(name: str) -> Any:
    def refused(*args: Any, **kwargs: Any) -> NoReturn:
        _refuse(name)

    refused.__name__ = refused.__qualname__ = name
    refused.__doc__ = f"Not supported: {WHY[name]}."
    return refused


def _refused_class(name: str) -> type:
    return type(name, (_RefusedBase,), {"_ml_name": name, "__doc__": f"Not supported: {WHY[name]}.",
                                        "__init__": lambda self, *a, **k: _refuse(name)})  # fmt: skip


Config = _refused_function("Config")
config_expr = _refused_function("config_expr")
parallel = _refused_function("parallel")
user_step_decorator = _refused_function("user_step_decorator")
FlowMutator = _refused_class("FlowMutator")
StepMutator = _refused_class("StepMutator")
UserStepDecorator = _refused_class("UserStepDecorator")
