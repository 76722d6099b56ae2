"""``python flow.py logs RUN/STEP[/TASK]`` and ``python flow.py dump RUN/STEP[/TASK]``, as in Metaflow.

``logs`` prints the stored stdout and stderr of a task, or of every task of a step (running ones
too: what they uploaded so far); ``dump`` prints a task's artifacts, ``name [size: N type: T] =
value``. As in Metaflow, the ``Dumping ...`` headers go to stderr and the content to stdout, so
``python flow.py logs RUN/train/3 --stdout > out.txt`` keeps only the step's own output. Both read
the store directly (any run of the flow, whatever the current namespace), as Metaflow's do.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from typing import Any


def add_commands(sub: Any) -> None:
    """Add ``logs`` and ``dump`` to the flow file's subcommands."""
    help_path = "RUN_ID/STEP or RUN_ID/STEP/TASK_ID"
    logs = sub.add_parser("logs", help="print the stdout/stderr of a task or of every task of a step")
    logs.add_argument("input_path", metavar="RUN/STEP[/TASK]", help=help_path)
    logs.add_argument("--stdout", action="store_true", help="show stdout only (with --stderr: both)")
    logs.add_argument("--stderr", action="store_true", help="show stderr only (with --stdout: both)")
    logs.add_argument("--both", action="store_true", help="show both streams (the default)")
    logs.add_argument("--timestamps", action="store_true", help="prefix each line with its local time")
    logs.add_argument("--attempt", type=int, default=None, help="attempt number (default: the task's latest)")
    dump = sub.add_parser("dump", help="print the artifacts of a task or of every task of a step")
    dump.add_argument("input_path", metavar="RUN/STEP[/TASK]", help=help_path)
    dump.add_argument("--max-value-size", type=int, default=1000,
                      help="print values stored in at most this many bytes (0: names only)")  # fmt: skip
    dump.add_argument("--include", default="", help="only these artifacts (comma-separated)")
    dump.add_argument("--private", action="store_true", help="accepted for Metaflow compatibility")
    dump.add_argument("--file", default=None, help="pickle {pathspec: {name: value}} into this file instead")


def run_command(flow_name: str, args: argparse.Namespace) -> int:
    """Run ``logs`` or ``dump``; returns the exit code (errors are one line on stderr)."""
    try:
        tasks = _tasks(flow_name, args.input_path, getattr(args, "attempt", None))
    except (KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 1
    if args.command == "logs":
        _logs(tasks, args)
    else:
        _dump(tasks, args)
    return 0


def _tasks(flow_name: str, input_path: str, attempt: int | None) -> list[Any]:
    from airflow_ml_provider.client import Step, Task
    from airflow_ml_provider.datastore import encode_run_id

    parts = input_path.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"{input_path!r}: the path must be RUN_ID/STEP or RUN_ID/STEP/TASK_ID")
    parts[0] = encode_run_id(parts[0])  # an Airflow run id works as given
    path = "/".join([flow_name, *parts])
    if len(parts) == 3:
        return [Task(path, attempt=attempt, _namespace_check=False)]
    tasks = Step(path, _namespace_check=False).tasks()
    if attempt is not None:
        tasks = [Task(t.pathspec, attempt=attempt, _namespace_check=False) for t in tasks]
    if not tasks:
        raise KeyError(f"no tasks at {input_path}: none exist or none has started yet")
    return tasks


def _logs(tasks: list[Any], args: argparse.Namespace) -> None:
    streams = [s for s in ("stdout", "stderr") if getattr(args, s)] or ["stdout", "stderr"]
    if args.both:
        streams = ["stdout", "stderr"]
    out = sys.stdout
    for task in tasks:
        _header(f"Dumping logs of run_id={task.run_id} step={task.step_name} task_id={task.id} "
                f"attempt={task.attempt}")  # fmt: skip
        for stream in streams:
            _header(stream)
            for at, line in task.loglines(stream):
                if args.timestamps:
                    out.write(at.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " ")
                out.write(f"{line}\n")
            out.flush()


def _dump(tasks: list[Any], args: argparse.Namespace) -> None:
    include = {name for name in args.include.split(",") if name}
    to_file: dict[str, dict[str, Any]] = {}
    for task in tasks:
        _header(f"Dumping output of run_id={task.run_id} step={task.step_name} task_id={task.id}")
        artifacts = {n: a for n, a in sorted(task.artifacts.items()) if not include or n in include}
        if args.file is not None:
            to_file[task.pathspec] = {n: a.data for n, a in artifacts.items()}
            continue
        for name, artifact in artifacts.items():
            print(f"{name} [size: {artifact.size} type: {artifact.type}] = {_value(artifact, args.max_value_size)}")
        sys.stdout.flush()
    if args.file is not None:
        with open(args.file, "wb") as fh:
            pickle.dump(to_file, fh, protocol=pickle.HIGHEST_PROTOCOL)
        _header(f"Artifacts written to {args.file}")


def _value(artifact: Any, max_size: int) -> str:
    if artifact.size == 0 or artifact.size > max_size:
        return "< artifact too large >"
    try:
        return str(artifact.data)
    except Exception as exc:  # a class only the flow's steps can import, a rotten blob: say which
        return f"< cannot load: {type(exc).__name__}: {exc} >"


def _header(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
