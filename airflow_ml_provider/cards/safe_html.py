"""Safe HTML pieces for cards: escaping, sanitized Markdown, sniffed images, the page shell.

A card is rendered once, inside the step, and then shown by the Airflow UI (an iframe) or a
browser from a file: it must be inert. Nothing here emits ``<script>``, an ``on*=`` attribute or
a URL the page would fetch or run: text is escaped, Markdown goes through an allow-list
sanitizer (``nh3``), images and charts are ``data:`` URIs of sniffed PNG / JPEG / SVG (an SVG
inside ``<img>`` never runs scripts), and the page carries a Content-Security-Policy that
forbids scripts and remote loads, in case anything slipped through.
"""

from __future__ import annotations

import base64
import html
import re

from airflow_ml_provider.errors import MLProviderError

CARDS_EXTRA = "pip install 'airflow-ml-provider[cards]'"

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_MD_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "s", "del", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_MD_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}


class MissingRenderer(MLProviderError, RuntimeError):
    """A renderer package is not installed; the message names the extra that brings it."""

    def __init__(self, what: str, module: str) -> None:
        super().__init__(f"{what} needs the 'cards' extra (missing module {module!r}): {CARDS_EXTRA}")


def esc(value: object) -> str:
    """Escape any value's text for HTML text and quoted attribute values."""
    return html.escape(str(value), quote=True)


def markdown_to_html(text: str) -> str:
    """CommonMark without raw HTML, then an allow-list sanitizer (no scripts, handlers, js: URLs)."""
    try:
        from markdown_it import MarkdownIt
    except ImportError:
        raise MissingRenderer("Markdown", "markdown_it") from None
    try:
        import nh3
    except ImportError:
        raise MissingRenderer("Markdown", "nh3") from None
    rendered = MarkdownIt("commonmark", {"html": False}).enable("table").enable("strikethrough").render(str(text))
    return nh3.clean(
        rendered,
        tags=_MD_TAGS,
        attributes=_MD_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def sanitize_fragment(fragment: str) -> str:
    """HTML from a user's own component subclass, through the Markdown allow-list (no images)."""
    try:
        import nh3
    except ImportError:
        raise MissingRenderer("A custom card component", "nh3") from None
    tags = _MD_TAGS | {"div", "span", "small", "sub", "sup", "progress"}
    attributes = {**_MD_ATTRIBUTES, "progress": {"max", "value"}}
    return nh3.clean(fragment, tags=tags, attributes=attributes, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow")  # fmt: skip


_SVG_START = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*(<!DOCTYPE[^>]*>\s*)?<svg[\s>]", re.S | re.I)


def sniff_image(data: bytes) -> str:
    """The MIME type of PNG, JPEG or SVG bytes; anything else is refused (ValueError)."""
    head = bytes(data[:4096])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if _SVG_START.match(head):
        return "image/svg+xml"
    raise ValueError(f"not a PNG, JPEG or SVG image (starts with {head[:12]!r})")


def image_tag(data: bytes, alt: str = "", css_class: str = "image") -> str:
    """An ``<img>`` with the image inline as a ``data:`` URI (type checked from the bytes)."""
    mime = sniff_image(data)
    b64 = base64.b64encode(bytes(data)).decode("ascii")
    return f'<img class="{esc(css_class)}" alt="{esc(alt)}" src="data:{mime};base64,{b64}">'


def error_box(title: str, message: str) -> str:
    """How a component that could not render shows up: its error, escaped; the step goes on."""
    return f'<div class="error"><strong>{esc(title)}</strong><pre>{esc(message)}</pre></div>'


_STYLE = """
:root { color-scheme: light dark; --fg: #1f2328; --bg: #fff; --muted: #59636e; --line: #d1d9e0; --err: #cf222e; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9198a1; --line: #3d444d; --err: #f85149; }
}
body { font: 14px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 0; padding: 16px; }
h1 { font-size: 1.4em; margin: 0 0 4px; } h2 { font-size: 1.15em; margin: 20px 0 6px; }
.muted { color: var(--muted); }
table { border-collapse: collapse; margin: 6px 0; } th, td { border: 1px solid var(--line); padding: 3px 8px;
  text-align: left; vertical-align: top; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; font: 12px/1.4 ui-monospace, monospace; }
.component { margin: 10px 0; } td .component, td p { margin: 0; }
img.image, img.chart { max-width: 100%; height: auto; }
.label { color: var(--muted); font-size: 0.9em; }
.error { border: 1px solid var(--err); color: var(--err); padding: 6px 10px; border-radius: 4px; }
progress { width: 240px; vertical-align: middle; }
"""


def page(title: str, body: str, *, card_type: str) -> str:
    """The whole card: one inert document with its own style and a script-forbidding CSP."""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f'<meta name="ml-card-type" content="{esc(card_type)}">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head>\n"
        f'<body><main class="card card-{esc(card_type)}">\n{body}\n</main></body></html>\n'
    )
