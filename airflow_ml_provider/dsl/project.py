"""``@project(name=...)``: flows of one project, deployed per branch (Metaflow's ``@project``).

The branch of a run or a deployment is, as in Metaflow:

- ``branch`` given (decorator ``branch=``, ``--branch``, else ``METAFLOW_BRANCH``): ``test.<branch>``,
  or ``prod.<branch>`` with production;
- no branch, production (decorator ``production=True``, ``--production`` or
  ``METAFLOW_PRODUCTION=true``): ``prod``;
- otherwise ``user.<METAFLOW_OWNER or the user>``.

A value in the decorator and a different one on the command line is an error (Metaflow's rule);
the environment variables only fill in what neither the decorator nor the command line gives.
Runs carry the system tags ``project:<name>`` and ``project_branch:<branch>``, from which every
step's ``current.project_name`` / ``branch_name`` / ``is_user_branch`` / ``is_production`` /
``project_flow_name`` are derived.

On Airflow the DAG id is ``<project>.<branch>.<dag id>`` (Metaflow's ``project_flow_name``; dots
are valid in DAG ids), so the same flow deploys once per branch side by side. The branch comes
from the decorator or from ``METAFLOW_BRANCH`` / ``METAFLOW_PRODUCTION`` in the environment of
every Airflow component that parses the file (dag-processor, scheduler, workers): a worker that
parses with another branch would not find the task's DAG. See docs/user-guide.md, "Metaflow compatibility".
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from airflow_ml_provider.errors import MLProviderError
from airflow_ml_provider.user import get_username

T = TypeVar("T", bound=type)

_INVALID = re.compile(r"[^a-z0-9_]")
MAX_NAME = 128
_TRUE = {"1", "true", "yes", "on"}


class ProjectError(MLProviderError, ValueError):
    """A bad project or branch name, or conflicting branch settings."""


@dataclass(frozen=True)
class ProjectSpec:
    """What ``@project`` declared on a flow class."""

    name: str
    branch: str | None = None
    production: bool | None = None


def _check_name(value: str, what: str) -> None:
    if not value or _INVALID.search(value):
        raise ProjectError(f"the {what} must contain only lowercase alphanumeric characters and underscores: {value!r}")
    if len(value) > MAX_NAME:
        raise ProjectError(f"the {what} must be shorter than {MAX_NAME} characters")


def project(cls: T | None = None, /, *, name: str, branch: str | None = None, production: bool | None = None) -> Any:
    """Put the flow in project ``name``; ``branch=`` / ``production=`` pin its branch (see module doc)."""
    if not isinstance(name, str):
        raise ProjectError("@project needs a name. Try @project(name='some_name')")
    _check_name(name, "@project name")
    if branch is not None:
        _check_name(branch, "branch name")

    def apply(klass: T) -> T:
        from airflow_ml_provider.dsl.flow_decorator import _after_decorator

        klass._ml_project = ProjectSpec(name, branch, production)  # type: ignore[attr-defined]
        _after_decorator(klass)
        return klass

    return apply(cls) if cls is not None else apply


def project_spec(flow_cls: type) -> ProjectSpec | None:
    return getattr(flow_cls, "_ml_project", None)


def env_branch(flow_cls: type) -> tuple[str | None, bool]:
    """``(METAFLOW_BRANCH, METAFLOW_PRODUCTION)``: the defaults of ``--branch`` / ``--production``.

    A value the flow's ``@project`` pins wins over the environment (a deployment-wide variable
    must not break the flows that pin their branch); only the command line conflicts with it.
    """
    spec = project_spec(flow_cls)
    branch = os.environ.get("METAFLOW_BRANCH") or None
    production = os.environ.get("METAFLOW_PRODUCTION", "").strip().lower() in _TRUE
    if spec is not None and spec.branch is not None:
        branch = None
    if spec is not None and spec.production is not None:
        production = False
    return branch, production


def resolve_branch(spec: ProjectSpec, branch: str | None = None, production: bool = False) -> str:
    """The branch name for ``spec`` given command-line/environment ``branch`` and ``production``."""
    if spec.branch is not None and branch is not None and branch != spec.branch:
        raise ProjectError("You cannot pass branch as both a command-line argument and an attribute of @project.")
    if spec.production is not None and production and production != spec.production:
        raise ProjectError("You cannot pass production as both a command-line argument and an attribute of @project.")
    given = spec.branch if spec.branch is not None else branch
    prod = spec.production if spec.production is not None else production
    if given:
        _check_name(given, "branch name")
        return f"{'prod' if prod else 'test'}.{given}"
    if prod:
        return "prod"
    return f"user.{os.environ.get('METAFLOW_OWNER') or get_username()}"


def project_tags(flow_cls: type, branch: str | None = None, production: bool = False) -> list[str]:
    """System tags of a run of ``flow_cls`` (empty without ``@project``)."""
    spec = project_spec(flow_cls)
    if spec is None:
        return []
    return [f"project:{spec.name}", f"project_branch:{resolve_branch(spec, branch, production)}"]


def project_flow_name(flow_cls: type, flow_name: str | None = None) -> str:
    """``<project>.<branch>.<flow>`` under ``@project`` (branch as at parse time), else the flow name."""
    name = flow_name or flow_cls.__name__
    spec = project_spec(flow_cls)
    return name if spec is None else f"{spec.name}.{resolve_branch(spec, *env_branch(flow_cls))}.{name}"


def project_dag_id(flow_cls: type, dag_id: str) -> str:
    """``<project>.<branch>.<dag_id>`` for a ``@project`` flow (branch from the environment), else ``dag_id``.

    Characters Airflow refuses in DAG ids (possible only in a ``user.<name>`` branch) become ``_``.
    """
    spec = project_spec(flow_cls)
    if spec is None:
        return dag_id
    branch = resolve_branch(spec, *env_branch(flow_cls))
    return re.sub(r"[^\w.-]", "_", f"{spec.name}.{branch}.{dag_id}")


@contextmanager
def defaults_context(flow_cls: type, tags: list[str]) -> Iterator[None]:
    """``current`` as a parameter's function default sees it: flow name, user, project fields."""
    from airflow_ml_provider.dsl.current import current

    current._set(flow_name=flow_cls.__name__, username=get_username(), tags=list(tags))
    try:
        yield
    finally:
        current._set()
