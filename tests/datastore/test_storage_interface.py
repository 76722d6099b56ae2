"""The storage interface every backend implements (listing with size and mtime, deleting, the
URL-scheme registry), checked on a local folder and on S3 over HTTP (moto_server) alike."""

from __future__ import annotations

import time

import pytest

from airflow_ml_provider.datastore import backend as backends
from airflow_ml_provider.datastore.backend import LocalBackend, StorageBackend, get_backend
from tests.fixtures.moto import local_or_s3_backend


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> StorageBackend:
    return local_or_s3_backend(request, tmp_path, "iface", "some/prefix")


def test_walk_lists_every_object_below_a_prefix_with_size_and_mtime(store: StorageBackend) -> None:
    before = time.time() - 5
    store.write("a/one", b"1")
    store.write("a/b/two", b"22")
    store.write("a/b/c/three", b"333")
    store.write("other/four", b"4444")
    found = store.walk("a")
    assert sorted(found) == ["a/b/c/three", "a/b/two", "a/one"]
    assert {p: info.size for p, info in found.items()} == {"a/one": 1, "a/b/two": 2, "a/b/c/three": 3}
    assert all(before <= info.mtime <= time.time() + 5 for info in found.values())
    assert store.walk("missing") == {}
    assert store.list_dir("a") == ["b", "one"]  # one level, where walk goes all the way down


def test_delete_many_removes_exactly_the_named_objects(store: StorageBackend) -> None:
    for i in range(5):
        store.write(f"x/{i}", b"v")
    store.delete_many(["x/1", "x/3", "x/not-there"])
    assert sorted(store.walk("x")) == ["x/0", "x/2", "x/4"]
    store.delete("x/0")
    store.delete("x/0")  # absent: no error
    assert not store.exists("x/0") and store.exists("x/2")


def test_a_local_write_in_progress_is_not_listed(tmp_path) -> None:
    store = LocalBackend(tmp_path)
    store.write("d/kept", b"1")
    (tmp_path / "d" / ".tmp-crashed").write_bytes(b"partial")
    assert list(store.walk("d")) == ["d/kept"]


def test_backends_are_chosen_by_url_scheme_and_new_schemes_can_be_registered(tmp_path, monkeypatch) -> None:
    assert isinstance(get_backend(str(tmp_path)), LocalBackend)
    assert get_backend(f"file://{tmp_path}").root == str(tmp_path)
    with pytest.raises(ValueError, match=r"unknown scheme 'gs'; use a folder or one of file://, s3://"):
        get_backend("gs://bucket/x")
    monkeypatch.setattr(backends, "_BACKENDS", dict(backends._BACKENDS))
    backends.register_backend("gs", lambda root: LocalBackend(tmp_path / root.split("://", 1)[1]))
    store = get_backend("gs://bucket/x")
    store.write("k", b"v")
    assert (tmp_path / "bucket" / "x" / "k").read_bytes() == b"v"
    with pytest.raises(ValueError, match="plain word"):
        backends.register_backend("g s", LocalBackend)
