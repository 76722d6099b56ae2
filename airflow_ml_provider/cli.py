"""``airflow-ml-provider``: look at recorded runs from a terminal (no Airflow import).

airflow-ml-provider runs FLOW             newest runs of a flow
airflow-ml-provider show FLOW[/RUN_ID]    a run's steps, tasks and artifact previews
airflow-ml-provider serve FILE            serve a WebServiceSpec file over HTTP (uvicorn)
airflow-ml-provider card view|list FLOW_OR_DAG/RUN_ID/STEP[/TASK]   a task's HTML cards (@card)
"""

from __future__ import annotations

import sys
from typing import Any

from airflow_ml_provider.cli_args import (
    OneLineParser,
    error_line,
    port_number,
    positive_float,
    positive_int,
    store_errors,
)
from airflow_ml_provider.client import Flow, Run, Task, get_metadata, namespace
from airflow_ml_provider.datastore import StoreError
from airflow_ml_provider.datastore.records import FAILED
from airflow_ml_provider.runtime import card_cli


def _format_preview(preview: dict[str, Any], indent: str = "      ") -> str:
    kind = preview.get("kind")
    if kind == "table":
        names = [str(c["name"]) for c in preview.get("columns", [])]
        rows = [[str(v) for v in row] for row in preview.get("rows", [])[:8]]
        widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]
        lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=False))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) for r in rows]
        shape = "x".join(str(s) for s in preview.get("shape", []))
        lines.append(f"({shape})")
        return "\n".join(indent + line for line in lines)
    if kind == "array":
        return f"{indent}array{tuple(preview.get('shape', []))} {preview.get('dtype')} {preview.get('stats', '')}"
    if kind == "image":
        return f"{indent}<image>"
    text = str(preview.get("text", ""))
    return "\n".join(indent + line for line in text.splitlines()[:10])


def show(pathspec: str) -> None:
    """Print a run from its metadata; a corrupt record or blob is reported where it is, the rest shown."""
    run = Flow(pathspec).latest_run if "/" not in pathspec else Run(pathspec)
    if run is None:
        raise SystemExit(f"no runs of {pathspec}")
    meta = run.metadata
    reason = f"  ({run.status_reason})" if run.status_reason else ""
    print(f"Run {run.pathspec}  status={meta.get('status')}{reason}  created={meta.get('created_at')}")
    print(f"  airflow run id: {meta.get('airflow_run_id')}  dag: {meta.get('dag_id')}  tags: {sorted(run.tags)}")
    print(f"  parameters: {meta.get('parameters')}")
    for step in run.steps():
        task_ids = step.task_ids()
        print(f"\nstep {step.id} ({len(task_ids)} task{'s' if len(task_ids) != 1 else ''})")
        for task_id in task_ids[:3]:
            try:
                _show_task(step[task_id])
            except StoreError as exc:
                print(f"  task {task_id}: error: {exc}")
        if len(task_ids) > 3:
            print(f"  ... {len(task_ids) - 3} more tasks")


def _show_task(task: Task) -> None:
    status = task.metadata.get("status")
    print(f"  task {task.id} attempt {task.attempt}: {status}")
    error = task.metadata.get("exception") if status == FAILED else None
    if error:
        first_line = (str(error.get("message") or "").splitlines() or [""])[0]
        print(f"    {error.get('type')}: {first_line}")
    for name in task.metadata.get("new_artifacts", []):
        art = task[name]
        print(f"    {name}: {art.type} ({art.size} bytes)")
        try:
            task._store.check_blob(art.sha, art.pathspec, art.record.get("checksum"))
        except StoreError as exc:  # the stored preview would show a value the bytes no longer hold
            print(f"      error: {exc}")
            continue
        print(_format_preview(art.preview))


def _card(args: Any) -> int:
    """``card view|list``: the first path segment is a flow name or a DAG id (``@flow(dag_id=...)``)."""
    from airflow_ml_provider.datastore import get_backend
    from airflow_ml_provider.datastore.reader import Reader, is_id

    head, _, rest = args.input_path.partition("/")
    try:  # the plugin's lookup: the DAG index, else a scan of runs, else the name itself
        flow_name = (Reader(get_backend()).flow_for_dag(head) if is_id(head) else None) or head
    except (ValueError, *store_errors()) as exc:
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 1
    args.input_path = rest
    try:
        return card_cli.run_command(flow_name, args)
    except store_errors() as exc:
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="airflow-ml-provider", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    runs = sub.add_parser("runs", help="list the runs of a flow, newest first")
    runs.add_argument("flow")
    show_p = sub.add_parser("show", help="show a run (FLOW for the latest, or FLOW/RUN_ID)")
    show_p.add_argument("pathspec")
    serve_p = sub.add_parser("serve", help="serve the WebServiceSpec defined in FILE (see airflow_ml_provider.service)")
    serve_p.add_argument("file")
    serve_p.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 in a container)")
    serve_p.add_argument("--port", type=port_number, default=8000)
    serve_p.add_argument("--workers", type=positive_int, default=1, help="uvicorn worker processes")
    serve_p.add_argument(
        "--poll-interval", type=positive_float, default=None, help="override the spec's poll_interval (s)"
    )
    serve_p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve_p.add_argument("--max-body-bytes", type=int, default=None, help="largest request body (default 10 MB; 413)")
    serve_p.add_argument("--max-json-depth", type=int, default=None, help="deepest JSON body nesting (default 64; 400)")
    card_p = sub.add_parser("card", help="a task's HTML cards: view (write to a file, print the path) or list")
    card_sub = card_p.add_subparsers(dest="card_command", required=True, metavar="{view,list}")
    card_cli.add_arguments(
        card_sub.add_parser("view", help="write a task's card to an HTML file and print its path"),
        card_sub.add_parser("list", help="list the cards of a task or of every task of a step"),
        "FLOW_OR_DAG/RUN_ID/STEP[/TASK]",
        "the flow name or its DAG id, the store's or Airflow's run id, a step and optionally a task",
    )
    args = parser.parse_args(argv)
    namespace(None)  # an operator's tool: every run in the artifact root, whoever ran it
    if args.command == "card":
        return _card(args)
    if args.command == "serve":
        from airflow_ml_provider.service.server import serve
        from airflow_ml_provider.service.spec import ServiceSpecError

        try:
            serve(args.file, host=args.host, port=args.port, workers=args.workers,
                  poll_interval=args.poll_interval, log_level=args.log_level,
                  max_body_bytes=args.max_body_bytes, max_json_depth=args.max_json_depth)  # fmt: skip
        except ServiceSpecError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except store_errors() as exc:
            print(f"error: {error_line(exc)}", file=sys.stderr)
            return 1
        return 0
    try:
        if args.command == "runs":
            runs_of = Flow(args.flow).runs()  # raises before printing a header for a bad name
            print(f"runs of {args.flow} in {get_metadata()}:")
            for run in runs_of:
                print(f"  {run.id}  {run.metadata.get('status')}  {run.metadata.get('created_at')}")
        else:
            show(args.pathspec)
    except (KeyError, ValueError, *store_errors()) as exc:  # unknown flow/run, bad name, unusable store/record
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
