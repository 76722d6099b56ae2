"""Identifiers that become path segments and object keys, validated in one place.

Airflow run ids hold ``:`` and ``+`` (``manual__2026-11-27T21:27:11+00:00_CLq8rl1f``), which are
unsafe in object keys, URLs and Kubernetes labels. :func:`encode_run_id` maps them to a safe,
deterministic id; a short hash keeps two Airflow ids that differ only in unsafe characters apart.
"""

from __future__ import annotations

import hashlib
import re

from airflow_ml_provider.errors import MLProviderError

_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")
_CONTENT_KEY = re.compile(r"^[0-9a-f]{64}$")


class InvalidIdError(MLProviderError, ValueError):
    """An id that cannot name a flow, run, step, task or artifact."""


def check_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it is a safe single path segment, else raise :class:`InvalidIdError`."""
    if not isinstance(value, str) or not _SAFE.match(value) or ".." in value:
        raise InvalidIdError(f"invalid {what} {value!r}: use letters, digits, '_', '.', '-' (max 200)")
    return value


def check_content_key(value: str) -> str:
    if not isinstance(value, str) or not _CONTENT_KEY.match(value):
        raise InvalidIdError(f"invalid content key {value!r}: expected 64 lowercase hex digits")
    return value


def encode_run_id(airflow_run_id: str) -> str:
    """Safe run id for an Airflow ``run_id`` (identity when it is already safe)."""
    if _SAFE.match(airflow_run_id) and ".." not in airflow_run_id:
        return airflow_run_id
    cleaned = re.sub(r"\.{2,}", "_", _UNSAFE_CHARS.sub("_", airflow_run_id)).lstrip(".-_").rstrip("_")[:150] or "run"
    digest = hashlib.sha256(airflow_run_id.encode()).hexdigest()[:8]
    return f"{cleaned}-{digest}"


def task_order(task_id: str) -> tuple[int, ...]:
    """Natural order of task ids (``<step ordinal>-<foreach path>``, ``runtime/topology.py``):
    ``5-2`` before ``5-10``, ``5-3-1`` after ``5-3``; within a step that is foreach order.

    The one order every reader shows (client, plugin, CLI); a part that is not a number sorts last.
    Runs of the old scheme (ids were bare foreach paths) sort the same way.
    """
    return tuple(int(p) if p.isdigit() else 10**9 for p in task_id.split("-"))
