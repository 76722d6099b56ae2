"""``python flow.py card view|list RUN/STEP[/TASK]`` and ``airflow-ml-provider card view|list
FLOW_OR_DAG/RUN/STEP[/TASK]``.

``view`` writes one card's HTML to a file (``--file``, else a stable name under the temporary
folder) and prints the path, to open in a browser: the card is self-contained and runs no
script. ``list`` prints the cards of a task (or of every task of a step). Both read the store
directly, any run whatever the namespace, as ``logs`` and ``dump`` do.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any


def add_arguments(
    view: argparse.ArgumentParser, listing: argparse.ArgumentParser, metavar: str, path_help: str
) -> None:
    """The options of ``card view`` and ``card list`` (shared by both command lines)."""
    for parser in (view, listing):
        parser.add_argument("input_path", metavar=metavar, help=path_help)
        parser.add_argument("--id", default=None, help="only the card with this id (@card(id=...))")
        parser.add_argument("--type", default=None, help="only cards of this type (default, blank)")
        parser.add_argument("--attempt", type=int, default=None, help="attempt number (default: the task's latest)")
    view.add_argument("--hash", default=None, help="the card with this hash (see `card list`)")
    view.add_argument("--file", default=None, help="write the HTML here (default: a file in the temporary folder)")
    listing.add_argument("--as-json", action="store_true", help="print the card records as JSON")


def add_commands(sub: Any) -> None:
    """Add ``card view`` / ``card list`` to a flow file's subcommands."""
    card = sub.add_parser("card", help="look at the HTML cards of a task (@card)")
    card_sub = card.add_subparsers(dest="card_command", required=True, metavar="{view,list}")
    view = card_sub.add_parser("view", help="write a task's card to an HTML file and print its path")
    listing = card_sub.add_parser("list", help="list the cards of a task or of every task of a step")
    add_arguments(
        view, listing, "RUN/STEP[/TASK]", "a task, or every task of a step; RUN as the store or Airflow names it"
    )


def run_command(flow_name: str, args: argparse.Namespace) -> int:
    """Run ``card view`` or ``card list``; errors are one line on stderr."""
    from airflow_ml_provider.datastore.records import CorruptRecordError
    from airflow_ml_provider.runtime.logs_cli import _tasks

    try:
        tasks = _tasks(flow_name, args.input_path, args.attempt)
        found = [(task, record) for task in tasks for record in _records(task, args)]
        if args.card_command == "list":
            _list(found, args)
            return 0
        if not found:
            raise KeyError(f"no cards{_filters(args)} at {args.input_path} (see `card list {args.input_path}`)")
        _view(found, args)
    except (KeyError, ValueError, CorruptRecordError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 1
    return 0


def _records(task: Any, args: argparse.Namespace) -> list[Any]:
    from airflow_ml_provider.client.cards import card_attempt_records

    return [
        r
        for r in card_attempt_records(task, args.attempt)
        if (args.id is None or r.get("id") == args.id)
        and (args.type is None or r.get("type") == args.type)
        and (getattr(args, "hash", None) is None or r.get("hash") == args.hash)
    ]


def _filters(args: argparse.Namespace) -> str:
    given = [f"{k}={getattr(args, k)}" for k in ("id", "type", "hash") if getattr(args, k, None) is not None]
    return f" ({', '.join(given)})" if given else ""


def _list(found: list[tuple[Any, Any]], args: argparse.Namespace) -> None:
    if args.as_json:
        import json

        print(json.dumps([{"pathspec": t.pathspec, **r} for t, r in found], indent=2))
        return
    print(f"cards at {args.input_path}: {len(found)}", file=sys.stderr)
    for task, r in found:
        state = "final" if r.get("final") else "running"
        print(f"{task.pathspec}  attempt {r.get('attempt')}  #{r.get('index')}  type={r.get('type')}  "
              f"id={r.get('id') or '-'}  hash={r.get('hash')}  {state}  {r.get('updated_at')}  "
              f"{r.get('size')} bytes")  # fmt: skip


def _view(found: list[tuple[Any, Any]], args: argparse.Namespace) -> None:
    from airflow_ml_provider.datastore.card_store import read_card_html

    task, record = found[0]
    if len(found) > 1:
        print(f"{len(found)} cards match; showing the first ({record.get('type')}, hash {record['hash']}); "
              "choose with --id, --type or --hash", file=sys.stderr)  # fmt: skip
    html = read_card_html(task._store, record)
    path = args.file or os.path.join(
        tempfile.gettempdir(),
        "airflow-ml-provider-cards",
        "_".join((*task.pathspec.split("/"), record["hash"])) + ".html",
    )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(html)
    print(os.path.abspath(path))
