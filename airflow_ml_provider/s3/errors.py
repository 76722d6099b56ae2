"""The one S3 error family, and the one reading of botocore's errors.

Every S3 failure this package raises on purpose is an :class:`S3Error` (an ``MLProviderError``
and a ``RuntimeError``); ``S3NotFound`` is also a ``FileNotFoundError``, ``S3AccessDenied`` a
``PermissionError`` and ``S3URLError`` a ``ValueError``, so plain ``except`` clauses keep working.
Each error carries what it is about (``url``, ``kind``, ``code``) so a face can word it for its
users: :func:`call` words it for the data client; the artifact store
(:mod:`airflow_ml_provider.datastore.s3`) rewords it with the artifact root and credential source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from airflow_ml_provider.errors import MLProviderError

T = TypeVar("T")

# What went wrong, as :func:`call` classifies it (``S3Error.kind``).
NO_CREDENTIALS = "no_credentials"
UNREACHABLE = "unreachable"  # no connection to the endpoint at all
CONNECTION = "connection"  # a connection broke or timed out, after botocore's retries
INVALID = "invalid"  # botocore refused the request before sending it
NO_BUCKET = "no_bucket"
NOT_FOUND = "not_found"
DENIED = "denied"
OTHER = "other"


class S3Error(MLProviderError, RuntimeError):
    """An S3 failure with the URL it concerns; base of every S3 error of this package."""

    def __init__(self, message: str, *, url: str | None = None, kind: str = OTHER, code: str = "") -> None:
        super().__init__(message)
        self.url, self.kind, self.code = url, kind, code


class S3NotFound(S3Error, FileNotFoundError):
    """The object (or bucket) does not exist."""


class S3AccessDenied(S3Error, PermissionError):
    """Credentials were refused for this URL."""


class S3URLError(S3Error, ValueError):
    """A key that cannot be turned into a URL with this client's root."""


def error_kind(exc: Any) -> tuple[str, str]:
    """``(kind, code)`` of a botocore ``ClientError``: kind is no_bucket, not_found, denied or other.

    ``code`` is S3's error code, or the HTTP status when there is none (a HEAD has no body).
    """
    err = exc.response.get("Error", {})
    code = str(err.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    label = code or str(status)
    if code == "NoSuchBucket":
        return NO_BUCKET, label
    if code in ("NoSuchKey", "404", "NotFound") or status == 404:
        return NOT_FOUND, label
    if status == 403 or code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return DENIED, label
    return OTHER, label


def translate(exc: BaseException, url: str, op: str = "request") -> S3Error | None:
    """The :class:`S3Error` for a botocore error about ``url`` (None: not an S3 error we know)."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        HTTPClientError,
        NoCredentialsError,
        ParamValidationError,
        PartialCredentialsError,
    )

    from airflow_ml_provider.s3.client import MAX_ATTEMPTS

    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        message = f"no AWS credentials for {url} (AWS_* env, IRSA, or the Airflow AWS connection)"
        return S3Error(message, url=url, kind=NO_CREDENTIALS)
    if isinstance(exc, EndpointConnectionError):  # before HTTPClientError: it is one
        return S3Error(f"cannot reach the S3 endpoint for {url}: {exc}", url=url, kind=UNREACHABLE)
    if isinstance(exc, HTTPClientError):  # connection reset/closed, timeouts: botocore retried already
        message = f"S3 {op} of {url} failed after {MAX_ATTEMPTS} attempts ({type(exc).__name__}): {exc}"
        return S3Error(message, url=url, kind=CONNECTION)
    if isinstance(exc, ParamValidationError):  # e.g. non-ASCII metadata, an empty key
        return S3Error(f"S3 refuses the request for {url}: {exc}", url=url, kind=INVALID)
    if not isinstance(exc, ClientError):
        return None
    kind, code = error_kind(exc)
    if kind == NO_BUCKET:
        return S3NotFound(f"{url}: bucket does not exist", url=url, kind=kind, code=code)
    if kind == NOT_FOUND:
        return S3NotFound(f"{url} does not exist", url=url, kind=kind, code=code)
    if kind == DENIED:
        return S3AccessDenied(f"access denied ({code}) to {url}", url=url, kind=kind, code=code)
    message = exc.response.get("Error", {}).get("Message", exc)
    return S3Error(f"S3 error {code} on {url}: {message}", url=url, kind=kind, code=code)


def call(url: str, fn: Callable[[], T], op: str = "request") -> T:
    """Run ``fn``; a botocore error becomes the :class:`S3Error` naming ``url`` (caused by it)."""
    try:
        return fn()
    except Exception as exc:
        if isinstance(exc, S3Error):
            raise
        error = translate(exc, url, op)
        if error is None:
            raise
        raise error from exc
