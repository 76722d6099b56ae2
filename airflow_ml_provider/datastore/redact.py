"""Secrets never shown in previews: a small masker for processes without Airflow.

A preview is what every reader of a DAG sees (plugin, ``show``, XCom rows), so before it is
stored the step masks, with ``***``:

- values under names that look like secrets: ``*KEY*``, ``*SECRET*``, ``*TOKEN*``, ``*PASSWORD*``,
  ``*PASSWD*``, ``*CREDENTIAL*``, ``*PRIVATE*`` (case-insensitive) and the names listed in
  ``[ml_provider] kubernetes_secrets`` -- as dict keys (any depth), DataFrame columns, and
  ``NAME=value`` / ``NAME: value`` / ``"NAME": "value"`` text (env dumps, ``/proc/*/environ``
  with its NUL separators, .env files, reprs of dicts);
- the values of this process's environment variables with such names, wherever they appear
  (the AWS keys a local step gets for an ``s3://`` root, secrets mounted from Kubernetes);
- in an Airflow process (the XCom backend runs in the task process), whatever Airflow's own
  secrets masker knows (connection passwords fetched by the task, masked variables). Steps do
  not import Airflow (2.5 s), so there this module is the masker.

Values shorter than 5 characters are not hunted as substrings (Airflow's default minimum): they
would mask half of every text. The stored blob itself is never altered: a step that stores a
secret keeps it in its artifact, readable by whoever can read the store (see SECURITY.md).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from typing import Any

MASK = "***"
MIN_SECRET_LENGTH = 5
SECRET_WORDS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "PRIVATE")
_NOT_SECRET_VALUES = {"true", "false", "none", "null", "airflow"}
MAX_ITEMS = 200  # per container, when a value is copied to be masked (a preview shows ~2000 chars)
MAX_DEPTH = 20

# NAME=value, NAME: value, "NAME": "value", 'NAME': 'value'. A value is a quoted string (closing
# quote optional: the text may be cut) or a run of characters up to a separator.
_PAIR = re.compile(
    r"""(?P<q>["']?)(?P<name>[A-Za-z_][\w.\-]*)(?P=q)(?P<sep>[ \t]*[=:][ \t]*)"""
    r"""(?P<value>"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?|[^\s\x00&;,?='"{}\[\]]+)"""
)


def _norm(name: str) -> str:
    return re.sub(r"\W+", "_", name.strip()).upper()


def _kubernetes_secret_names() -> frozenset[str]:
    try:
        from airflow_ml_provider.config import get_option

        raw = get_option("kubernetes_secrets")
    except Exception:  # a broken option must not stop masking
        raw = ""
    return _parse_names(raw)


@functools.lru_cache(maxsize=16)
def _parse_names(raw: str) -> frozenset[str]:
    return frozenset(_norm(n) for n in raw.split(",") if n.strip())


@functools.lru_cache(maxsize=8192)
def _is_secret_name(name: str, extra: frozenset[str]) -> bool:
    normalized = _norm(name)
    return any(word in normalized for word in SECRET_WORDS) or normalized in extra


def looks_secret(name: Any, extra: frozenset[str] | None = None) -> bool:
    """True when a value stored under ``name`` must not be shown (``extra``: kubernetes_secrets)."""
    if not isinstance(name, str) or not name:
        return False
    return _is_secret_name(name, _kubernetes_secret_names() if extra is None else extra)


def known_secret_values(extra: frozenset[str] | None = None) -> list[str]:
    """Values of this process's secret-looking environment variables, longest first."""
    extra = _kubernetes_secret_names() if extra is None else extra
    found = {
        value
        for name, value in os.environ.items()
        if looks_secret(name, extra) and not name.startswith("AIRFLOW__ML_PROVIDER__")
        and len(value) >= MIN_SECRET_LENGTH and value.lower() not in _NOT_SECRET_VALUES
    }  # fmt: skip
    return sorted(found, key=len, reverse=True)


@functools.lru_cache(maxsize=4)
def _values_pattern(values: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(re.escape(v) for v in values)) if values else None


def _airflow_redactors() -> list[Any]:
    """Airflow's ``redact`` functions, only where this process has already imported them."""
    out = []
    for module in ("airflow.sdk._shared.secrets_masker", "airflow._shared.secrets_masker"):
        loaded = sys.modules.get(module)
        if loaded is not None and hasattr(loaded, "redact"):
            out.append(loaded.redact)
    return out


class Masker:
    """One masking pass (the environment is read once per preview, not once per string)."""

    def __init__(self, child_env: dict[str, str] | None = None) -> None:
        self._extra = _kubernetes_secret_names()
        values = set(known_secret_values(self._extra))
        values.update(  # the secrets a child process was given (its output is masked here)
            v for k, v in (child_env or {}).items() if looks_secret(k, self._extra) and len(v) >= MIN_SECRET_LENGTH
        )
        self._values = _values_pattern(tuple(sorted(values, key=len, reverse=True)))
        self._airflow = _airflow_redactors()

    def secret_name(self, name: Any) -> bool:
        return looks_secret(name, self._extra)

    def text(self, text: str) -> str:
        """``text`` with known secret values and secret-named ``NAME=value`` pairs masked."""
        for redact in self._airflow:
            try:
                redacted = redact(text)
                text = redacted if isinstance(redacted, str) else text
            except Exception:
                text = MASK  # Airflow could not tell: fail closed
        if self._values is not None:
            text = self._values.sub(MASK, text)
        return _PAIR.sub(lambda m: _mask_pair(m, self._extra), text)

    def value(self, value: Any, depth: int = 0) -> tuple[Any, bool]:
        """A bounded copy of a dict/list/tuple with secret-named entries masked; (copy, was cut)."""
        if depth > MAX_DEPTH:
            return MASK, True
        cut = False
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for i, (key, item) in enumerate(value.items()):
                if i >= MAX_ITEMS:
                    cut = True
                    break
                if self.secret_name(key) and item is not None:
                    out[key] = MASK
                    continue
                out[key], sub_cut = self.value(item, depth + 1)
                cut = cut or sub_cut
            return out, cut
        if isinstance(value, list | tuple):
            items = []
            for i, item in enumerate(value):
                if i >= MAX_ITEMS:
                    cut = True
                    break
                copy, sub_cut = self.value(item, depth + 1)
                items.append(copy)
                cut = cut or sub_cut
            return items, cut
        if isinstance(value, str):  # a preview shows ~2000 characters: mask no more than that
            return self.text(value[:4096]), len(value) > 4096
        return value, False

    def document(self, doc: Any) -> Any:
        """Every string of a preview document masked (images are left alone: base64 is no text)."""
        if isinstance(doc, dict):
            if doc.get("kind") == "image":
                return doc
            return {k: self.document(v) for k, v in doc.items()}
        if isinstance(doc, list):
            return [self.document(v) for v in doc]
        if isinstance(doc, str):
            return self.text(doc)
        return doc


def _mask_pair(match: re.Match[str], extra: frozenset[str]) -> str:
    if not looks_secret(match.group("name"), extra):
        return match.group(0)
    value = match.group("value")
    quote = value[0] if value[:1] in ("'", '"') else ""
    closing = quote if quote and len(value) > 1 and value.endswith(quote) else ""
    start = match.start("value") - match.start(0)
    return match.group(0)[:start] + quote + MASK + closing


def mask_table(preview: dict[str, Any], masker: Masker) -> dict[str, Any]:
    """Cells of secret-named columns in a table preview replaced by ``***``."""
    columns = preview.get("columns") or []
    hidden = [i for i, col in enumerate(columns) if masker.secret_name(str(col.get("name", "")))]
    if hidden:
        preview["rows"] = [
            [MASK if i in hidden and cell is not None else cell for i, cell in enumerate(row)]
            for row in preview.get("rows") or []
        ]
    return preview


@functools.lru_cache(maxsize=1)
def _process_masker() -> Masker:
    return Masker()


def mask_log_line(line: bytes) -> bytes:
    """A captured log line as stored for DAG readers: secrets masked (one masker per process).

    The step's console echo is left alone (Airflow masks its own task log); the copy in the store,
    which the plugin shows to everyone who can read the DAG, goes through this.
    """
    text = line.decode("utf-8", "surrogateescape")
    masked = _process_masker().text(text)
    return line if masked == text else masked.encode("utf-8", "surrogateescape")


def line_masker(child_env: dict[str, str] | None = None) -> Callable[[str], str]:
    """Mask function for the output lines of a child process given ``child_env`` (e.g. S3 keys)."""
    return Masker(child_env).text
