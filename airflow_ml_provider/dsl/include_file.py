"""Where an IncludeFile may read from: confinement of trigger-time paths (see SECURITY.md).

Anyone allowed to trigger a DAG chooses its IncludeFile paths, and the step reads them with the
worker's (or pod's) permissions, then stores the bytes where every DAG reader sees them. So a path
that does not come from the flow's own code is confined:

- it resolves inside the flow file's folder or a folder of ``[ml_provider] include_file_roots``
  (relative paths are taken from the flow file's folder; absolute paths must lie in a root);
- no ``..`` component, and no symlink may lead out of the roots (checked on the resolved path);
- never under ``/proc``, ``/sys`` or ``/dev``, whatever the roots say;
- only regular files, at most ``[ml_provider] include_file_max_mb``.

The flow author's default path is trusted (the author's code can read any file anyway): it is
not confined to the roots, but the ``/proc``/``/sys``/``/dev``, regular-file and size checks
still apply, so a default keeps working exactly as before unless it is one of those.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePath

from airflow_ml_provider import config
from airflow_ml_provider.errors import MLProviderError

FORBIDDEN_PREFIXES = ("/proc", "/sys", "/dev")


class IncludePathError(MLProviderError, ValueError):
    """A refused IncludeFile path; the message names the parameter and the allowed roots."""


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _given_roots(flow_file: str | None) -> list[str]:
    roots = [os.path.dirname(os.path.abspath(flow_file))] if flow_file else []
    return roots + [os.path.normpath(r) for r in config.include_file_roots()]


def allowed_roots(flow_file: str | None) -> list[str]:
    """The flow file's folder first, then ``include_file_roots``, as real (symlink-free) paths."""
    return list(dict.fromkeys(os.path.realpath(r) for r in _given_roots(flow_file)))


def _describe(roots: list[str], flow_file: str | None) -> str:
    if not roots:
        return "none (no flow file, and [ml_provider] include_file_roots is empty)"
    labels = [f"{r} (the flow's folder)" if flow_file and i == 0 else r for i, r in enumerate(roots)]
    return ", ".join(labels)


def resolve_include_path(value: str, flow_file: str | None, param: str, *, trusted: bool) -> Path:
    """The checked, resolved path of an IncludeFile value, or :class:`IncludePathError`.

    ``trusted`` is True only for the flow author's default; every other value is confined.
    """
    where = f"IncludeFile {param!r}"
    if not isinstance(value, str) or not value.strip():
        raise IncludePathError(f"{where}: the path is empty")
    if "\x00" in value:
        raise IncludePathError(f"{where}: the path contains a NUL byte")
    roots = allowed_roots(flow_file)
    hint = (
        f"allowed folders: {_describe(roots, flow_file)}; an administrator can add folders with "
        "[ml_provider] include_file_roots"
    )
    if not trusted and ".." in PurePath(value).parts:
        raise IncludePathError(f"{where}: path {value!r} contains '..', which is not allowed ({hint})")
    candidate = Path(value)
    if not candidate.is_absolute():
        if not flow_file:
            raise IncludePathError(f"{where}: relative path {value!r} needs a flow file to resolve against")
        candidate = Path(os.path.dirname(os.path.abspath(flow_file))) / candidate
    lexical = os.path.normpath(str(candidate))
    if not trusted and not any(_inside(lexical, r) for r in [*_given_roots(flow_file), *roots]):
        raise IncludePathError(f"{where}: path {value!r} is outside the allowed folders ({hint})")
    real = os.path.realpath(lexical)
    if any(_inside(p, f) for p in (lexical, real) for f in FORBIDDEN_PREFIXES):
        raise IncludePathError(f"{where}: path {value!r} is under /proc, /sys or /dev, which is never read")
    if not trusted and not any(_inside(real, r) for r in roots):
        raise IncludePathError(f"{where}: path {value!r} leads outside the allowed folders through a symlink ({hint})")
    try:
        info = os.stat(real)
    except OSError as exc:
        raise IncludePathError(f"{where}: cannot read {value!r}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise IncludePathError(f"{where}: path {value!r} is not a regular file")
    limit = config.include_file_max_bytes()
    if info.st_size > limit:
        raise IncludePathError(_too_big(where, value, info.st_size, limit))
    return Path(real)


def _too_big(where: str, value: str, size: int, limit: int) -> str:
    return (
        f"{where}: file {value!r} is {size:,} bytes, over the limit of {limit:,} bytes "
        "([ml_provider] include_file_max_mb)"
    )


def read_include_file(value: str, flow_file: str | None, param: str, *, trusted: bool) -> bytes:
    """The bytes of a checked IncludeFile path, read without following a last-moment symlink."""
    path = resolve_include_path(value, flow_file, param, trusted=trusted)
    limit = config.include_file_max_bytes()
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise IncludePathError(f"IncludeFile {param!r}: cannot read {value!r}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # swapped after the check
            raise IncludePathError(f"IncludeFile {param!r}: path {value!r} is not a regular file")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise IncludePathError(_too_big(f"IncludeFile {param!r}", value, len(data), limit))
    return data
