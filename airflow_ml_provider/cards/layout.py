"""The two card types: ``default`` (task info, parameters, artifacts, then the user's components)
and ``blank`` (only the user's components), each a whole inert HTML page.

What the default card shows of an artifact is the preview the store computed when it saved the
value (``datastore/preview.py``), so a card never loads or unpickles anything.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_ml_provider.cards.components import MetaflowCardComponent
from airflow_ml_provider.cards.safe_html import error_box, esc, image_tag, page

CARD_TYPES = ("default", "blank")

_INFO_FIELDS = (
    ("flow_name", "flow"), ("run_id", "run"), ("step", "step"), ("task_id", "task"), ("attempt", "attempt"),
    ("status", "status"), ("started_at", "started"), ("finished_at", "finished"), ("duration_s", "duration (s)"),
)  # fmt: skip


def _components_html(components: Iterable[MetaflowCardComponent]) -> str:
    return "\n".join(c.render_html() for c in components)


def _preview_html(preview: Mapping[str, Any] | None) -> str:
    preview = preview or {}
    kind = preview.get("kind")
    try:
        if kind == "table":
            names = [c.get("name") for c in preview.get("columns", [])]
            head = "".join(f"<th>{esc(n)}</th>" for n in names)
            rows = "".join(
                "<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in preview.get("rows", [])[:20]
            )
            shape = " x ".join(str(s) for s in preview.get("shape", []))
            table = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
            return f'{table}<div class="label">{esc(shape)}</div>'
        if kind == "array":
            text = f"array{tuple(preview.get('shape', []))} {preview.get('dtype')} {preview.get('stats', '')}"
            return f"<pre>{esc(text)}</pre>"
        if kind == "image":
            return image_tag(base64.b64decode(preview.get("png_base64", ""), validate=True), alt="artifact image")
    except (ValueError, binascii.Error, TypeError) as exc:
        return error_box("preview could not be shown", str(exc))
    return f"<pre>{esc(preview.get('text', ''))}</pre>"


def _task_section(info: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{esc(label)}</th><td>{esc(info[key])}</td></tr>"
        for key, label in _INFO_FIELDS
        if info.get(key) is not None
    )
    error = info.get("exception")
    error_html = error_box(f"{error.get('type')}", str(error.get("message", ""))) if isinstance(error, dict) else ""
    return f"<h2>Task</h2><table>{rows}</table>{error_html}"


def _artifacts_table(title: str, records: Mapping[str, Mapping[str, Any]]) -> str:
    if not records:
        return f'<h2>{esc(title)}</h2><div class="muted">none</div>'
    rows = "".join(
        f"<tr><td><code>{esc(name)}</code></td><td>{esc(rec.get('type', ''))}</td><td>{esc(rec.get('size', ''))}</td>"
        f"<td>{_preview_html(rec.get('preview'))}</td></tr>"
        for name, rec in sorted(records.items())
    )
    head = "<tr><th>name</th><th>type</th><th>bytes</th><th>value</th></tr>"
    return f"<h2>{esc(title)}</h2><table><thead>{head}</thead><tbody>{rows}</tbody></table>"


def render_card(
    card_type: str,
    components: Iterable[MetaflowCardComponent],
    info: Mapping[str, Any],
    parameter_names: Iterable[str] = (),
) -> str:
    """The card's HTML. ``info``: the attempt's record so far (its ``artifacts`` once stored)."""
    title = f"{info.get('flow_name')}/{info.get('run_id')}/{info.get('step')}/{info.get('task_id')}"
    user = _components_html(components)
    if card_type == "blank":
        return page(title, user, card_type=card_type)
    if card_type != "default":
        raise ValueError(f"unknown card type {card_type!r}: known types are {', '.join(CARD_TYPES)}")
    artifacts: Mapping[str, Mapping[str, Any]] = info.get("artifacts") or {}
    params = set(parameter_names)
    state = "" if info.get("status") in ("success", "failed") else '<div class="muted">the step is running</div>'
    body = [
        f"<h1>{esc(title)}</h1>",
        state,
        _task_section(info),
        _artifacts_table("Parameters", {n: r for n, r in artifacts.items() if n in params}),
        _artifacts_table("Artifacts", {n: r for n, r in artifacts.items() if n not in params}),
    ]
    if user:
        body.append(f"<h2>Components</h2>{user}")
    return page(title, "\n".join(body), card_type=card_type)
