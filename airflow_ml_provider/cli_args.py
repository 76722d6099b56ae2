"""What both command lines (``python flow.py ...`` and ``airflow-ml-provider ...``) share about bad input.

Bad input is one line on stderr and a non-zero exit code, never a traceback: argparse's usage
block is left out of errors (``--help`` prints it), numbers are checked where they are parsed,
and an artifact store that cannot be used as configured (missing bucket, no credentials,
unreachable endpoint, unreadable folder) is reported by its one-line message. A traceback is
kept for what is not bad input: a bug, or the user's own step code.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

USAGE_ERROR = 2  # argparse's exit code for bad arguments
STORE_ERROR = 1  # the store cannot be used as configured


class OneLineParser(argparse.ArgumentParser):
    """``argparse`` whose errors are one line: ``prog: error: message (see prog --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1 (``--max-workers``, ``--workers``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number of seconds greater than 0 (``--poll-interval``)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds greater than 0, got {text!r}")
    return value


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 to 65535 (0 lets the system choose)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port from 0 to 65535, got {text!r}")
    return value


def error_line(exc: BaseException) -> str:
    """An exception as the one line after ``error:`` (a KeyError's message without its quotes)."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


def store_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean the artifact store is unusable as configured (one-line messages)."""
    from airflow_ml_provider.datastore import StoreError
    from airflow_ml_provider.datastore.s3 import S3StoreError

    return StoreError, S3StoreError, OSError
