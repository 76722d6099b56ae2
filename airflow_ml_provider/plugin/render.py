"""HTML building blocks: the page shell (light/dark theme), formatting helpers and previews.

Pages are plain server-rendered HTML built with f-strings. The rule that keeps them safe is
simple: every value that comes from the store goes through :func:`esc` (or :func:`attr`) exactly
once, at the point where it is put into markup; nothing from the store is ever marked safe.
Previews are the JSON documents computed when the artifact was written: this module only lays
them out, it never decodes artifact bytes.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from typing import Any
from urllib.parse import quote

_B64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")

CSS = """
/* Fallback palettes: Airflow 3.3's Chakra tokens (bg, fg, fg.muted, border, bg.muted, fg.info,
   fg.success, fg.error); THEME_JS replaces them with the live values of the surrounding UI. */
:root{color-scheme:light;--bg:#fff;--fg:oklch(0.232 0.032 266.4);--muted:oklch(0.45 0.055 251);
--border:oklch(0.915 0.01 253);--panel:oklch(0.955 0.006 253);--head:oklch(0.985 0.004 253);
--link:oklch(0.546 0.245 262.9);--ok:oklch(0.47 0.2 149);--okbg:oklch(0.96 0.05 150);
--bad:oklch(0.577 0.245 27.3);--badbg:oklch(0.94 0.04 20);--run:oklch(0.52 0.1 210);
--runbg:oklch(0.95 0.04 210);--warn:oklch(0.55 0.12 75);--warnbg:oklch(0.96 0.06 95);
--code:oklch(0.985 0.004 253)}
@media (prefers-color-scheme:dark){:root:not([data-theme=light]){color-scheme:dark;
--bg:oklch(0.232 0.032 266.4);--fg:oklch(0.985 0.004 253);--muted:oklch(0.75 0.025 252);
--border:oklch(0.28 0.035 251);--panel:oklch(0.18 0.03 251);--head:oklch(0.18 0.03 251);
--link:oklch(0.809 0.105 251.8);--ok:oklch(0.75 0.18 153);--okbg:oklch(0.3 0.07 153);
--bad:oklch(0.704 0.191 22.2);--badbg:oklch(0.3 0.08 22);--run:oklch(0.8 0.1 210);
--runbg:oklch(0.3 0.06 210);--warn:oklch(0.85 0.14 90);--warnbg:oklch(0.32 0.06 80);
--code:oklch(0.18 0.03 251)}}
:root[data-theme=dark]{color-scheme:dark;
--bg:oklch(0.232 0.032 266.4);--fg:oklch(0.985 0.004 253);--muted:oklch(0.75 0.025 252);
--border:oklch(0.28 0.035 251);--panel:oklch(0.18 0.03 251);--head:oklch(0.18 0.03 251);
--link:oklch(0.809 0.105 251.8);--ok:oklch(0.75 0.18 153);--okbg:oklch(0.3 0.07 153);
--bad:oklch(0.704 0.191 22.2);--badbg:oklch(0.3 0.08 22);--run:oklch(0.8 0.1 210);
--runbg:oklch(0.3 0.06 210);--warn:oklch(0.85 0.14 90);--warnbg:oklch(0.32 0.06 80);
--code:oklch(0.18 0.03 251)}
*{box-sizing:border-box}
body{margin:0;padding:16px 20px;background:var(--bg);color:var(--fg);font-size:14px;line-height:1.45;
font-family:var(--font,Inter,-apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif)}
a{color:var(--link);text-decoration:none}a:hover{text-decoration:underline}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:20px 0 8px}h3{font-size:14px;margin:12px 0 6px}
.muted{color:var(--muted)}.crumbs{font-size:13px;margin-bottom:8px;color:var(--muted)}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
pre{background:var(--code);border:1px solid var(--border);border-radius:6px;padding:8px;
overflow:auto;max-height:320px;margin:4px 0;white-space:pre-wrap;word-break:break-word}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid var(--border);padding:5px 8px;text-align:left;vertical-align:top}
th{background:var(--head);font-weight:600;font-size:12.5px}
.scroll{overflow-x:auto;max-width:100%}.scroll.preview{max-height:380px;overflow:auto;
border:1px solid var(--border);border-radius:6px;width:max-content}
.preview th{position:sticky;top:0}
.preview table{width:auto}.preview td,.preview th{white-space:nowrap;max-width:320px;overflow:hidden;
text-overflow:ellipsis}.dtype{font-weight:400;color:var(--muted);font-size:11.5px}
.badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;font-weight:600;
background:var(--panel);color:var(--muted)}
.s-success{background:var(--okbg);color:var(--ok)}.s-failed,.s-corrupt{background:var(--badbg);color:var(--bad)}
.s-running{background:var(--runbg);color:var(--run)}.s-changed,.s-added,.s-removed{background:var(--warnbg);color:var(--warn)}
.card{border:1px solid var(--border);border-radius:8px;padding:10px 12px;margin:10px 0;background:var(--bg)}
.card>summary,.step>summary{cursor:pointer}
.step{border:1px solid var(--border);border-radius:8px;margin:12px 0;padding:8px 12px}
.step>summary{font-weight:600;font-size:15px}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0}.kv>dt{color:var(--muted)}
.kv>dd{margin:0;min-width:0;overflow-wrap:anywhere}
.row{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center}
.copy{display:flex;gap:6px;align-items:center;margin:6px 0}.copy code{flex:1;background:var(--code);
border:1px solid var(--border);border-radius:6px;padding:4px 6px;overflow-x:auto;white-space:nowrap}
button,.btn,select,input{font:inherit;font-size:13px;color:var(--fg);background:var(--panel);
border:1px solid var(--border);border-radius:6px;padding:3px 10px;cursor:pointer}
input{cursor:text}.pager{margin:8px 0;display:flex;gap:10px;align-items:center}
.tag{display:inline-block;border:1px solid var(--border);border-radius:4px;padding:0 5px;margin:1px;
font-size:12px}.imgprev{max-width:100%;max-height:360px;border:1px solid var(--border);border-radius:4px;
background:#fff}
"""

THEME_JS = """(function(){var d=document.documentElement;
var TOKENS={'--bg':'bg','--fg':'fg','--muted':'fg-muted','--border':'border','--panel':'bg-muted',
'--head':'bg-subtle','--code':'bg-subtle','--link':'fg-info','--ok':'fg-success','--bad':'fg-error'};
function apply(){var t=null,root=null;
try{if(window.parent!==window){root=window.parent.document.documentElement;var c=root.classList;
t=c.contains('dark')?'dark':(c.contains('light')?'light':null);}}catch(e){root=null;}
if(!t){try{var s=localStorage.getItem('theme');if(s==='dark'||s==='light'){t=s;}}catch(e){}}
if(t){d.setAttribute('data-theme',t);}else{d.removeAttribute('data-theme');}
if(root){var cs=window.parent.getComputedStyle(root);for(var k in TOKENS){
var v=cs.getPropertyValue('--chakra-colors-'+TOKENS[k]).trim();
if(v){d.style.setProperty(k,v);}else{d.style.removeProperty(k);}}
var f=cs.getPropertyValue('--chakra-fonts-body').trim();if(f){d.style.setProperty('--font',f);}}}
apply();try{new MutationObserver(apply).observe(window.parent.document.documentElement,
{attributes:true,attributeFilter:['class','style']});}catch(e){}
document.addEventListener('click',function(ev){var b=ev.target.closest('button[data-copy]');if(!b)return;
var text=b.getAttribute('data-copy');var done=function(){b.textContent='Copied';
setTimeout(function(){b.textContent='Copy';},1200);};
if(navigator.clipboard){navigator.clipboard.writeText(text).then(done,function(){});}
else{var t=document.createElement('textarea');t.value=text;document.body.appendChild(t);t.select();
try{document.execCommand('copy');done();}catch(e){}t.remove();}});})();"""

#: Content-Security-Policy for every page: the only script allowed is THEME_JS (by its hash), so
#: even a missed escape could not run injected script; images only as data: URLs.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
    "frame-ancestors 'self'; base-uri 'none'; script-src 'sha256-"
    + base64.b64encode(hashlib.sha256(THEME_JS.encode()).digest()).decode()
    + "'"
)
#: The same, for pages that frame cards (same-origin card routes, each sandboxed by its iframe).
FRAMING_CSP = CSP + "; frame-src 'self'"


def esc(value: Any) -> str:
    """Escape any value for HTML text or a quoted attribute (``None`` becomes empty)."""
    return "" if value is None else html.escape(str(value), quote=True)


def q(value: str) -> str:
    """Percent-encode one URL path segment (also escapes ``/``)."""
    return quote(str(value), safe="")


def page(title: str, body: str, head: str = "") -> str:
    """A full HTML document with the shared style and the theme-following script.

    ``head`` is trusted markup for the head (a card view's ``<meta http-equiv=refresh>``).
    """
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8>{head}"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{CSS}</style><script>{THEME_JS}</script>"
        f"</head><body>{body}</body></html>"
    )


def badge(status: Any) -> str:
    s = str(status or "unknown")
    cls = re.sub(r"[^a-z]", "", s.lower())
    return f"<span class='badge s-{cls}'>{esc(s)}</span>"


def human_size(n: Any) -> str:
    if not isinstance(n, int | float) or isinstance(n, bool):
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def human_duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {sec:02d}s"


def short_time(value: Any) -> str:
    """``2026-11-27T21:27:11.135+00:00`` -> ``2026-11-27 21:27:11`` (full value in a tooltip)."""
    text = str(value or "")
    return f"<span title='{esc(text)}'>{esc(text[:19].replace('T', ' '))}</span>" if text else ""


def tags_html(tags: Any) -> str:
    return "".join(f"<span class=tag>{esc(t)}</span>" for t in (tags if isinstance(tags, list) else []))


def json_pre(value: Any, limit: int = 4000) -> str:
    text = json.dumps(value, indent=1, sort_keys=True, default=str)
    return f"<pre>{esc(text[:limit])}{'…' if len(text) > limit else ''}</pre>"


def kv(pairs: list[tuple[str, str]]) -> str:
    """A definition grid; values are already-rendered HTML, labels are escaped here."""
    return "<dl class=kv>" + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in pairs if v) + "</dl>"


def copy_line(text: str) -> str:
    button = f"<button type=button data-copy='{esc(text)}'>Copy</button>"
    return f"<div class=copy><code>{esc(text)}</code>{button}</div>"


def _cell(value: Any) -> str:
    if value is None:
        return "<span class=muted>null</span>"
    return esc(value)


def preview_html(preview: Any) -> str:
    """Lay out a write-time preview document by kind; unknown shapes fall back to escaped JSON."""
    if not isinstance(preview, dict):
        return "<span class=muted>no preview</span>"
    kind = preview.get("kind")
    try:
        if kind == "table":
            return _table(preview)
        if kind == "array":
            return _array(preview)
        if kind in ("scalar", "text", "json"):
            note = ""
            if kind == "text" and isinstance(preview.get("length"), int):
                note = f"<div class=muted>{preview['length']} characters</div>"
            if preview.get("truncated"):
                note = "<div class=muted>truncated</div>"
            return f"<pre class=preview-{esc(kind)}>{esc(preview.get('text'))}</pre>{note}"
        if kind == "image":
            data = str(preview.get("png_base64") or "")
            if _B64.match(data):
                return f"<img class=imgprev alt='artifact image' src='data:image/png;base64,{esc(data)}'>"
            return "<span class=muted>invalid image preview</span>"
    except (TypeError, ValueError, AttributeError, KeyError):
        pass
    return json_pre(preview)


def _table(p: dict[str, Any]) -> str:
    shape = p.get("shape") or []
    cols = [c for c in (p.get("columns") or []) if isinstance(c, dict)]
    rows = [r for r in (p.get("rows") or []) if isinstance(r, list)]
    head = "".join(f"<th>{esc(c.get('name'))}<br><span class=dtype>{esc(c.get('dtype'))}</span></th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    dims = " \u00d7 ".join(esc(s) for s in shape)
    more = f", first {len(rows)} rows shown" if p.get("truncated") else ""
    return (
        f"<div class=muted>table {dims}{more}</div>"
        f"<div class='scroll preview'><table class=ptable><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


def _array(p: dict[str, Any]) -> str:
    shape = " \u00d7 ".join(esc(s) for s in (p.get("shape") or [])) or "scalar"
    stats = p.get("stats") if isinstance(p.get("stats"), dict) else {}
    stat_html = "".join(f"<th>{esc(k)}</th><td class=mono>{_cell(v)}</td>" for k, v in stats.items())
    values = p.get("values") if isinstance(p.get("values"), list) else []
    shown = ", ".join(esc(v) for v in values)
    total = math.prod(d for d in (p.get("shape") or []) if isinstance(d, int))
    return (
        f"<div class=muted>array {shape}, dtype {esc(p.get('dtype'))}</div>"
        + (f"<div class='scroll preview'><table><tr>{stat_html}</tr></table></div>" if stat_html else "")
        + f"<pre class=preview-array>[{shown}{', …' if total > len(values) else ''}]</pre>"
    )
