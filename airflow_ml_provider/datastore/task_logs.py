"""The stored shape of a task attempt's stdout/stderr: one line per line, each with its UTC time.

``<n>.stdout.log`` and ``<n>.stderr.log`` (next to the attempt's ``<n>.json``, see ``FORMAT.md``)
hold UTF-8 bytes, one record per line of output::

    2026-12-03T18:57:32.123456Z the line as the step wrote it

A fixed 27-character UTC timestamp (when the line was read from the step's stream), one space,
the line without its newline. A log has one writer, the attempt's step process
(``runtime/logcapture.py``), which rewrites it while the attempt runs, so a reader may see a
shorter prefix of the final log, never a torn line. This module is the one place that writes and
parses the shape; the client, the CLI and the UI plugin read through :func:`parse_log`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

STREAMS = ("stdout", "stderr")
STAMP_LEN = 27  # "%Y-%m-%dT%H:%M:%S.%fZ"
MAX_LOG_BYTES = 64 << 20  # per stream and attempt; the rest is echoed to the console only


def check_stream(stream: str) -> str:
    if stream not in STREAMS:
        raise ValueError(f"stream must be 'stdout' or 'stderr', not {stream!r}")
    return stream


def stamp(at: float) -> bytes:
    """The timestamp prefix of lines read at ``at`` (seconds since the epoch)."""
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()


def format_lines(lines: list[bytes], at: float) -> bytes:
    """Stored records of complete ``lines`` (without their newlines) read at time ``at``."""
    prefix = stamp(at) + b" "
    return b"".join(prefix + line + b"\n" for line in lines)


def cut_note(stream: str, limit: int) -> bytes:
    """The last line of a log that reached its cap."""
    return f"[ml-provider] {stream} cut at {limit} bytes: the rest was echoed to the console only".encode()


def parse_log(data: bytes | memoryview) -> Iterator[tuple[datetime, bytes]]:
    """``(UTC datetime, line bytes)`` per stored line; a line without a readable stamp keeps the previous time."""
    last = datetime.fromtimestamp(0, timezone.utc)
    last_head = b""
    for raw in bytes(data).split(b"\n"):
        if not raw:
            continue
        head = raw[:STAMP_LEN]
        if len(raw) > STAMP_LEN and raw[STAMP_LEN] == 32 and head.endswith(b"Z"):  # 32: a space
            if head != last_head:  # lines read together share a stamp: parse it once
                try:
                    last = datetime.fromisoformat(head[:-1].decode() + "+00:00")
                except ValueError:
                    yield last, raw
                    continue
                last_head = head
            yield last, raw[STAMP_LEN + 1 :]
            continue
        yield last, raw


def log_text(data: bytes | memoryview) -> str:
    """The lines without their stamps, each ending in a newline (what ``Task.stdout`` returns).

    The same lines as :func:`parse_log` gives, without building a datetime per line (the cost that
    dominates Metaflow's large-log case, ``benchmarks/large_logs.py``).
    """
    out = []
    for raw in bytes(data).split(b"\n"):
        if not raw:
            continue
        if len(raw) > STAMP_LEN and raw[STAMP_LEN] == 32 and raw[STAMP_LEN - 1] == 90:  # " " and "Z"
            out.append(raw[STAMP_LEN + 1 :])
        else:
            out.append(raw)
    return (b"\n".join(out) + b"\n").decode("utf-8", errors="replace") if out else ""
