"""The package's error base: ``except MLProviderError`` catches every error this package raises on
purpose (bad input, a failed run, a broken store), and none of Python's or a library's own.

Each concrete error also keeps the built-in base its callers already catch (``ValueError`` for bad
input, ``KeyError`` for something not found, ``RuntimeError`` for a failure), so adding this base
broke no ``except`` clause.
"""

from __future__ import annotations


class MLProviderError(Exception):
    """Base of every error raised on purpose by airflow-ml-provider."""


class ObjectNotFound(MLProviderError, KeyError):
    """The client found no such flow, run, step, task or artifact (a ``KeyError``, as before)."""

    def __str__(self) -> str:  # KeyError quotes its message; this one reads as a sentence
        return str(self.args[0]) if self.args else "not found"
