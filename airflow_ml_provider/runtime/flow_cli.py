"""Metaflow's command line for a flow file: ``python flow.py run|resume|show|check|logs|dump|tag|card``.

``run`` takes one ``--<parameter>`` option per Parameter plus ``--max-workers`` and ``--tag``;
``show`` prints the steps; ``check`` validates the graph and tells whether Airflow's default
DAG discovery (safe mode) will parse the file.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from typing import Any

from airflow_ml_provider import config
from airflow_ml_provider.cli_args import STORE_ERROR, OneLineParser, positive_int, store_errors
from airflow_ml_provider.dsl.parameters import IncludeFile, JSONType, flow_parameters
from airflow_ml_provider.graph import FlowGraphError, build_graph
from airflow_ml_provider.runtime import card_cli, cli_options, logs_cli, tag_cli


def safe_mode_hint(flow_file: str) -> str | None:
    """Why Airflow's safe-mode heuristic would skip this file, or None when it will parse it."""
    with open(flow_file, "rb") as fh:
        content = fh.read().lower()
    if b"airflow" in content and (b"dag" in content or b"asset" in content):
        return None
    return (
        "Airflow's default DAG discovery (dag_discovery_safe_mode) parses only files that mention "
        "'airflow' and 'dag'. This file has the first (the import) but not the second: write @flow(dag_id=...) or a "
        "comment such as '# Airflow DAG', or set [core] might_contain_dag_callable = "
        "airflow_ml_provider.discovery.might_contain_flow (see airflow_ml_provider/discovery.py)."
    )


def _parser(flow_cls: type) -> argparse.ArgumentParser:
    parser = OneLineParser(prog=f"python {os.path.basename(inspect.getfile(flow_cls))}")
    cli_options.add_top_level_options(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the flow locally")
    for attr, param in flow_parameters(flow_cls).items():
        kind = "JSON" if param.type is JSONType else param.type.__name__
        run.add_argument(
            f"--{param.name}", dest=f"param__{attr}", default=None, metavar=kind.upper(),
            help=f"{param.help or ''} ({kind}, default {param.default!r})",
        )  # fmt: skip
    run.add_argument("--max-workers", type=positive_int, default=None, help="parallel tasks (default: CPU cores)")
    run.add_argument("--tag", action="append", default=[], help="add a tag to the run (repeatable)")
    run.add_argument("--run-id", default=None, help=argparse.SUPPRESS)
    cli_options.add_run_options(run)
    resume = sub.add_parser("resume", help="rerun a failed run, reusing its successful steps")
    resume.add_argument("step", nargs="?", default=None, help="rerun from this step (default: the failed ones)")
    resume.add_argument("--origin-run-id", default=None, help="run to resume (default: the latest run)")
    resume.add_argument("--max-workers", type=positive_int, default=None)
    resume.add_argument("--tag", action="append", default=[])
    cli_options.add_run_options(resume)
    logs_cli.add_commands(sub)
    tag_cli.add_commands(sub)
    card_cli.add_commands(sub)
    sub.add_parser("show", help="print the flow's steps")
    sub.add_parser("check", help="check the flow's graph")
    return parser


def main(flow_cls: type, argv: list[str] | None = None) -> None:
    args = _parser(flow_cls).parse_args(sys.argv[1:] if argv is None else argv)
    refused = cli_options.check_top_level_options(args, flow_cls)
    if refused:
        print(f"error: {refused}", file=sys.stderr)
        sys.exit(2)
    if args.quiet:
        cli_options.quiet_stdout()
    flow_file = inspect.getfile(flow_cls)
    try:
        graph = build_graph(flow_cls)
    except FlowGraphError as exc:
        print(f"Flow {flow_cls.__name__} is not valid:\n{exc}", file=sys.stderr)
        sys.exit(2)
    if args.command in ("logs", "dump"):
        sys.exit(logs_cli.run_command(flow_cls.__name__, args))
    if args.command == "tag":
        sys.exit(tag_cli.run_command(flow_cls.__name__, args))
    if args.command == "card":
        sys.exit(card_cli.run_command(flow_cls.__name__, args))
    if args.command == "show":
        print(graph.describe())
        _note_triggers(flow_cls, shown=True)
    elif args.command == "check":
        print(f"The graph of {flow_cls.__name__} looks good ({len(graph.nodes)} steps).")
        hint = safe_mode_hint(flow_file)
        if hint:
            print(f"Note: {hint}")
    elif args.command in ("run", "resume"):
        _run(flow_cls, flow_file, graph, args)
    sys.exit(0)


def _note_triggers(flow_cls: type, shown: bool = False) -> None:
    """As Metaflow: @trigger / @trigger_on_finish act only where the flow is deployed (Airflow)."""
    from airflow_ml_provider.dsl.triggers import trigger_spec

    spec = trigger_spec(flow_cls)
    what = [f"@trigger(events={list(spec.events)})"] * bool(spec.events)
    what += [f"@trigger_on_finish(flows={list(spec.flows)})"] * bool(spec.flows)
    if what and shown:
        print(f"  triggered on Airflow by {' and '.join(what)}")
    elif what:
        print(f"[ml-provider] note: {' and '.join(what)} take effect only on Airflow (the DAG is scheduled on "
              "those assets); this local run starts now and current.trigger is None")  # fmt: skip


def _run(flow_cls: type, flow_file: str, graph: Any, args: argparse.Namespace) -> None:
    from airflow_ml_provider.dsl.parameters import ParameterError
    from airflow_ml_provider.runtime.local_runner import LocalRunFailed, LocalRunner, prestart_steps

    prestart_steps(flow_file)  # its imports overlap the checks below
    _check_store(flow_cls.__name__)
    params: dict[str, Any] = {}
    origin = resume_step = None
    try:
        if getattr(args, "run_id", None) is not None:
            from airflow_ml_provider.datastore.ids import check_id

            check_id(args.run_id, "run id")  # else every step would fail on it with a traceback
        if args.command == "resume":
            origin, resume_step = _resume_origin(flow_cls, graph, args)
        tags = cli_options.run_tags(args, flow_cls)
        params = cli_options.parameter_values(flow_cls, args, tags)
        max_workers = args.max_workers or config.max_local_workers()  # a bad option: one line, below
        for param in flow_parameters(flow_cls).values():
            if isinstance(param, IncludeFile) and params[param.name] is not None:
                param.resolve_path(params[param.name], flow_file)  # refused before any step starts
    except (ParameterError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    runner = LocalRunner(
        flow_cls, flow_file, graph, params, max_workers=max_workers, tags=tags,
        run_id=getattr(args, "run_id", None), origin_run_id=origin, resume_step=resume_step,
        max_num_splits=args.max_num_splits,
    )  # fmt: skip
    cli_options.write_run_id_files(args, flow_cls.__name__, runner.run_id)
    _note_triggers(flow_cls)
    try:
        runner.run()
    except LocalRunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the runner already stopped the steps and said so
        sys.exit(130)
    except store_errors() as exc:  # the store failed the runner itself (an outage, a full disk)
        print(f"error: run {runner.run_id} of {flow_cls.__name__}: {exc}", file=sys.stderr)
        sys.exit(STORE_ERROR)


def _check_store(flow_name: str) -> None:
    """Exit with one line, before any step starts, when the artifact store cannot be used.

    One listing finds a missing bucket, missing credentials or an unreachable endpoint; a local
    root is created if absent (only the root folder) and must be writable. Without this, each
    step would fail on its own with a traceback and the run would end in a generic failure.
    """
    from airflow_ml_provider.datastore import FlowDatastore, get_backend
    from airflow_ml_provider.datastore.backend import LocalBackend

    try:
        backend = get_backend()
        FlowDatastore(flow_name, backend).run_ids()
        if isinstance(backend, LocalBackend):
            os.makedirs(backend.root, exist_ok=True)
            if not os.access(backend.root, os.W_OK | os.X_OK):
                raise PermissionError(f"artifact root {backend.root} is not writable by this user")
    except OSError as exc:
        reason = f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc)
        print(f"error: cannot use the artifact root: {reason}", file=sys.stderr)
        sys.exit(STORE_ERROR)
    except (*store_errors(), ValueError) as exc:  # ValueError: a root that is no URL or path
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(STORE_ERROR)


def _resume_origin(flow_cls: type, graph: Any, args: argparse.Namespace) -> tuple[str, str | None]:
    """The origin run id (default: latest run of the flow) and the validated resume step."""
    from airflow_ml_provider.client import Flow
    from airflow_ml_provider.datastore import encode_run_id

    if args.step is not None and args.step not in graph.nodes:
        raise ValueError(f"no step {args.step!r} in {flow_cls.__name__}: steps are {', '.join(graph.nodes)}")
    if args.origin_run_id:
        from airflow_ml_provider.datastore import FlowDatastore, get_backend
        from airflow_ml_provider.runtime.resume import check_origin

        origin = encode_run_id(args.origin_run_id)
        check_origin(FlowDatastore(flow_cls.__name__, get_backend()), origin, given=args.origin_run_id)
        return origin, args.step
    try:
        latest = Flow(flow_cls.__name__).latest_run
    except KeyError:
        latest = None
    if latest is None:
        raise ValueError(f"no earlier run of {flow_cls.__name__} to resume; pass --origin-run-id")
    return latest.id, args.step
