"""The one S3 stack without a server: one error family, one reading of botocore's errors, and
each face's wording of it (the data client's, the artifact store's with its root)."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
)

from airflow_ml_provider.datastore import StoreError
from airflow_ml_provider.datastore.s3 import S3Backend, S3StoreError
from airflow_ml_provider.errors import MLProviderError
from airflow_ml_provider.s3 import S3AccessDenied, S3Error, S3NotFound, S3URLError
from airflow_ml_provider.s3.errors import call

URL = "s3://b/k"


def _client_error(code: str, status: int, message: str = "m") -> ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "Op")  # type: ignore[arg-type]


def _raise(exc: BaseException):
    def fn() -> None:
        raise exc

    return fn


def test_one_family_and_old_names() -> None:
    import airflow_ml_provider.data as data
    import airflow_ml_provider.data.s3 as data_s3

    assert data.S3Error is data_s3.S3Error is S3Error and data.S3NotFound is S3NotFound
    assert data_s3.S3URLError is S3URLError and data_s3.S3AccessDenied is S3AccessDenied
    assert issubclass(S3Error, MLProviderError) and issubclass(S3Error, RuntimeError)
    assert issubclass(S3NotFound, FileNotFoundError) and issubclass(S3AccessDenied, PermissionError)
    assert issubclass(S3StoreError, S3Error) and issubclass(S3StoreError, StoreError)  # except StoreError still works


@pytest.mark.parametrize(
    ("exc", "kind", "message"),
    [
        (_client_error("NoSuchBucket", 404), S3NotFound, f"{URL}: bucket does not exist"),
        (_client_error("NoSuchKey", 404), S3NotFound, f"{URL} does not exist"),
        (_client_error("", 404), S3NotFound, f"{URL} does not exist"),  # a HEAD has no error body
        (_client_error("AccessDenied", 403), S3AccessDenied, f"access denied (AccessDenied) to {URL}"),
        (_client_error("BadDigest", 400, "digest"), S3Error, f"S3 error BadDigest on {URL}: digest"),
        (NoCredentialsError(), S3Error, f"no AWS credentials for {URL} (AWS_* env, IRSA, or the Airflow AWS"),
        (EndpointConnectionError(endpoint_url="http://x"), S3Error, f"cannot reach the S3 endpoint for {URL}: "),
        (ConnectionClosedError(endpoint_url="http://x"), S3Error, f"S3 GET of {URL} failed after 6 attempts ("),
        (ParamValidationError(report="bad"), S3Error, f"S3 refuses the request for {URL}: "),
    ],
)  # fmt: skip
def test_data_client_wording(exc: BaseException, kind: type, message: str) -> None:
    with pytest.raises(kind) as info:
        call(URL, _raise(exc), "GET")
    assert type(info.value) is kind and str(info.value).startswith(message)
    assert info.value.url == URL and info.value.__cause__ is exc


def test_other_errors_pass_through() -> None:
    with pytest.raises(OSError, match="changed size"):
        call(URL, _raise(OSError("changed size")))
    with pytest.raises(S3URLError):
        call(URL, _raise(S3URLError("bad")))


class _Client:
    """A stand-in boto3 client whose every HEAD fails with ``exc``."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.meta = type("Meta", (), {"endpoint_url": "http://s3.test"})()

    def head_object(self, **kwargs: object) -> None:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (_client_error("NoSuchBucket", 404), "bucket 'b' does not exist: artifact root s3://b/p ("),
        (_client_error("AccessDenied", 403), "access denied (AccessDenied) to s3://b/p/k: artifact root s3://b/p ("),
        (_client_error("SlowDown", 503), "S3 error SlowDown on s3://b/p/k: artifact root s3://b/p ("),
        (NoCredentialsError(), "no AWS credentials found for artifact root s3://b/p ("),
        (EndpointConnectionError(endpoint_url="http://x"), "cannot reach the S3 endpoint http://x for artifact root"),
        (ConnectionClosedError(endpoint_url="http://x"),
         "S3 HEAD of s3://b/p/k failed at http://s3.test after 6 attempts (ConnectionClosedError): artifact root"),
    ],
)  # fmt: skip
def test_store_wording(exc: BaseException, message: str) -> None:
    backend = S3Backend("s3://b/p", client=_Client(exc))
    with pytest.raises(S3StoreError) as info:
        backend.size("k")
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
    assert info.value.__cause__ is exc


def test_store_missing_object_is_a_plain_file_not_found() -> None:
    backend = S3Backend("s3://b/p", client=_Client(_client_error("", 404)))
    with pytest.raises(FileNotFoundError) as info:
        backend.size("k")
    assert type(info.value) is FileNotFoundError and str(info.value) == "s3://b/p/k"
    assert backend.exists("k") is False


def test_store_keeps_its_transfer_settings_as_attributes() -> None:
    backend = S3Backend("s3://b/p", client=object(), range_size=4 << 20, part_size=1)
    assert (backend.range_size, backend.part_size, backend.max_concurrency) == (4 << 20, 5 << 20, 10)
    assert backend.multipart_threshold == backend.ranged_threshold == 64 << 20


def test_clients_share_one_model_loader_and_keep_working(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every plain-boto3 client of a process shares botocore's data loader (the S3 model is parsed
    once), each with its own session and credentials; the loader's search path does not grow."""
    from airflow_ml_provider.s3 import client as s3_client

    clients = [s3_client.boto3_client(s3_client.botocore_config(4)) for _ in range(4)]
    (loader,) = s3_client._loaders.values()
    assert len(loader.search_paths) == len(set(loader.search_paths))
    for i, client in enumerate(clients):
        client.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x" * i)
    assert [clients[0].head_object(Bucket=bucket, Key=f"k{i}")["ContentLength"] for i in range(4)] == [0, 1, 2, 3]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "other-key")  # a new client reads the environment again
    again = s3_client.boto3_client(s3_client.botocore_config(4))
    assert again._request_signer._credentials.access_key == "other-key"
