"""``python flow.py tag add|remove|replace|list``: Metaflow's tag command for a flow's runs.

Each edit is a write-once event in the store (``datastore/FORMAT.md``), so concurrent edits are
never lost. As in Metaflow, ``add``/``remove``/``replace`` need ``--run-id`` (the error names the
latest run), print ``Operation successful. New tags:`` and the run's tags; ``list --flat`` prints
one tag per line after a header line, on stderr as Metaflow's ``echo`` does.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_commands(sub: Any) -> None:
    """Add ``tag`` (with ``add``, ``remove``, ``replace``, ``list``) to the flow file's subcommands."""
    tag = sub.add_parser("tag", help="add, remove, replace or list the tags of a run")
    actions = tag.add_subparsers(dest="tag_command", required=True)
    for name, text in (("add", "add tags to a run"), ("remove", "remove user tags from a run")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--run-id", default=None, help="the run (required)")
        action.add_argument("tags", nargs="+", help="the tags")
    replace = actions.add_parser("replace", help="remove some tags and add others in one edit")
    replace.add_argument("--run-id", default=None, help="the run (required)")
    replace.add_argument("--add", dest="tags_to_add", action="append", default=[], help="tag to add (repeatable)")
    replace.add_argument("--remove", dest="tags_to_remove", action="append", default=[],
                         help="tag to remove (repeatable)")  # fmt: skip
    replace.add_argument("pair", nargs="*", metavar="OLD NEW", help="or: one tag to remove and one to add")
    listing = actions.add_parser("list", help="list the tags of a run (or of every run with --all)")
    listing.add_argument("run", nargs="?", default=None, help="the run (or --run-id)")
    listing.add_argument("--run-id", default=None)
    listing.add_argument("--all", dest="list_all", action="store_true", help="every run of the flow")
    listing.add_argument("--hide-system-tags", action="store_true", help="only the user tags")
    listing.add_argument("--flat", action="store_true", help="one tag per line")


def run_command(flow_name: str, args: argparse.Namespace) -> int:
    """Run one ``tag`` action on any run of the flow; errors are one line on stderr and exit code 1."""
    from airflow_ml_provider.client import namespace

    namespace(None)  # as `logs` and `dump`: the command names its run, whoever started it
    try:
        if args.tag_command == "list":
            _list(flow_name, args)
        else:
            run = _run(flow_name, args.run_id)
            if args.tag_command == "add":
                run.add_tags(args.tags)
            elif args.tag_command == "remove":
                run.remove_tags(args.tags)
            else:
                remove, add = _replacement(args)
                run.replace_tags(remove, add)
            print("Operation successful. New tags:", file=sys.stderr)
            _print_tags(run, hide_system=False)
    except (KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 1
    return 0


def _replacement(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    remove, add = list(args.tags_to_remove), list(args.tags_to_add)
    if args.pair:
        if len(args.pair) != 2 or remove or add:
            raise ValueError("tag replace takes OLD NEW, or --remove OLD ... --add NEW ...")
        remove, add = [args.pair[0]], [args.pair[1]]
    if not remove:
        raise ValueError("specify at least one tag to remove (--remove); to only add, use `tag add`")
    if not add:
        raise ValueError("specify at least one tag to add (--add); to only remove, use `tag remove`")
    return remove, add


def _run(flow_name: str, run_id: str | None) -> Any:
    from airflow_ml_provider.client import Flow, Run

    if run_id is None:
        try:
            latest = Flow(flow_name).latest_run
        except KeyError:
            latest = None
        hint = f" The latest run of {flow_name} has id {latest.id}." if latest is not None else ""
        raise ValueError(f"specify a run with --run-id.{hint}")
    if "/" in run_id:
        raise ValueError(f"run id {run_id!r} is not a run id (give the id, not a pathspec)")
    return Run(f"{flow_name}/{run_id}", _namespace_check=False)


def _list(flow_name: str, args: argparse.Namespace) -> None:
    from airflow_ml_provider.client import Flow

    if args.run and args.run_id:
        raise ValueError("give the run either with --run-id or as an argument, not both")
    runs = list(Flow(flow_name).runs()) if args.list_all else [_run(flow_name, args.run or args.run_id)]
    if args.flat:
        tags = set().union(*(_tags(r, args.hide_system_tags) for r in runs))
        print(f"Tags of {', '.join(r.pathspec for r in runs)}:", file=sys.stderr)
        for tag in sorted(tags):
            print(tag, file=sys.stderr)
        return
    for run in runs:
        _print_tags(run, args.hide_system_tags)


def _tags(run: Any, hide_system: bool) -> frozenset[str]:
    return run.user_tags if hide_system else run.tags


def _print_tags(run: Any, hide_system: bool) -> None:
    print(f"For run {run.pathspec}:", file=sys.stderr)
    print("  user tags:   " + (", ".join(sorted(run.user_tags)) or "(none)"), file=sys.stderr)
    if not hide_system:
        print("  system tags: " + (", ".join(sorted(run.system_tags)) or "(none)"), file=sys.stderr)
