"""Metaflow's command-line surface for ``python flow.py``: top-level options, parameter values, run-id files.

Top-level options go before the command, as in Metaflow (``python flow.py --branch x run``):

- ``--quiet``: the runner's own ``[ml-provider]`` lines are not printed; step output and errors are.
- ``--no-pylint`` / ``--pylint``: accepted; this package never runs pylint (the graph check runs always).
- ``--metadata local``: accepted (run records live in the artifact store); ``service`` is refused.
- ``--datastore local|s3``: accepted when it names the kind of the configured artifact root
  (``AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT``); anything else is refused with the setting to change.
- ``--environment local``: accepted; ``conda``/``pypi``/``uv`` are refused (a step's packages are
  its pod image, ``@kubernetes(image=...)``).
- ``--branch NAME`` / ``--production``: the ``@project`` branch (defaults ``METAFLOW_BRANCH`` /
  ``METAFLOW_PRODUCTION``); refused for a flow without ``@project``.

A parameter's value comes from ``--name``, else ``METAFLOW_RUN_<NAME>`` (upper case, ``-`` as
``_``), else its default (a function default is called once, here, with ``current`` showing the
flow name, user and project fields). ``--run-id-file PATH`` gets the run id before the first step
starts (``run`` and ``resume``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

from airflow_ml_provider import config
from airflow_ml_provider.cli_args import positive_int
from airflow_ml_provider.dsl.parameters import flow_parameters
from airflow_ml_provider.dsl.project import defaults_context, env_branch, project_spec, project_tags


def add_top_level_options(parser: argparse.ArgumentParser) -> None:
    """Metaflow's top-level options (see the module docstring for what each does here)."""
    parser.add_argument("--quiet", action="store_true", help="do not print the runner's own progress lines")
    parser.add_argument("--no-pylint", "--pylint", dest="pylint", action="store_const", const=None, default=None,
                        help="accepted for Metaflow compatibility; pylint is never run")  # fmt: skip
    parser.add_argument("--metadata", default=None, help="local only (run records live in the artifact store)")
    parser.add_argument("--datastore", default=None, help="local or s3: must match the configured artifact root")
    parser.add_argument("--environment", default=None, help="local only (step packages come from the pod image)")
    parser.add_argument("--branch", default=None, help="@project branch (default: METAFLOW_BRANCH)")
    parser.add_argument("--production", action="store_true", help="@project production branch (or METAFLOW_PRODUCTION)")
    parser.add_argument("--event-logger", "--monitor", dest="sidecar", default=None,
                        help="accepted for Metaflow compatibility; no sidecar loggers or monitors run")  # fmt: skip


def add_run_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--run-id-file", default=None, help="write the run id to this file before the run starts")
    sub.add_argument("--max-num-splits", type=positive_int, default=None,
                     help="fail a foreach with more items than this (default: no limit locally)")  # fmt: skip
    sub.add_argument("--runner-attribute-file", default=None, help=argparse.SUPPRESS)  # the Runner API's


def check_top_level_options(args: argparse.Namespace, flow_cls: type) -> str | None:
    """The one-line reason an option cannot be honoured here, or None."""
    if args.metadata not in (None, "local"):
        return f"--metadata {args.metadata}: not supported; run records live in the artifact store (use local)"
    root_kind = "s3" if config.artifact_root().startswith("s3://") else "local"
    if args.datastore not in (None, root_kind):
        return (
            f"--datastore {args.datastore}: the artifact root is {root_kind} ({config.artifact_root()}); "
            "set AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT to change it"
        )
    if args.environment not in (None, "local"):
        return f"--environment {args.environment}: not supported; a step's packages come from its image (@kubernetes)"
    if project_spec(flow_cls) is None and (args.branch is not None or args.production):
        return f"--branch/--production need @project(name=...) on {flow_cls.__name__}"
    return None


def run_tags(args: argparse.Namespace, flow_cls: type) -> list[str]:
    """User tags plus the ``@project`` system tags (raises ProjectError on a bad branch)."""
    env_name, env_production = env_branch(flow_cls)
    return [*args.tag, *project_tags(flow_cls, args.branch or env_name, args.production or env_production)]


def parameter_values(flow_cls: type, args: argparse.Namespace, tags: list[str]) -> dict[str, Any]:
    """Each parameter's value: ``--name``, else ``METAFLOW_RUN_<NAME>``, else its (called) default."""
    values: dict[str, Any] = {}
    with defaults_context(flow_cls, tags):
        for attr, param in flow_parameters(flow_cls).items():
            raw = getattr(args, f"param__{attr}", None)
            if raw is None:
                raw = os.environ.get(f"METAFLOW_RUN_{param.name.upper().replace('-', '_')}")
            if raw is None:
                raw = param.resolve_default(flow_cls.__name__)
            values[param.name] = param.convert(raw)
    return values


def write_run_id_files(args: argparse.Namespace, flow_name: str, run_id: str) -> None:
    """``--run-id-file`` (the bare id, as Metaflow) and the Runner API's attribute file."""
    if getattr(args, "run_id_file", None):
        with open(args.run_id_file, "w") as fh:
            fh.write(run_id)
    if getattr(args, "runner_attribute_file", None):
        with open(args.runner_attribute_file, "w") as fh:
            fh.write(f"{flow_name}/{run_id}")


class _QuietStream:
    """Drops the runner's ``[ml-provider]`` progress lines (also when a step echoes them)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            body = line.split("] ", 1)[1] if line.startswith("[") and not line.startswith("[ml-provider]") else line
            if not body.startswith("[ml-provider]"):
                self._stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def quiet_stdout() -> None:
    sys.stdout = _QuietStream(sys.stdout)  # type: ignore[assignment]
