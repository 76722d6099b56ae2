"""Editing a run's user tags (Metaflow's ``Run.add_tag`` family).

Each edit is its own write-once event record in the store (``FlowDatastore.tag_run``), folded on
read, so edits from many processes at once, and edits while the run finishes, lose nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow_ml_provider.datastore.records import SYSTEM_TAG_PREFIXES


class RunTagging:
    """Tag edits of :class:`~airflow_ml_provider.client.core.Run` (``self._store``, ``self.id``,
    ``self.metadata``)."""

    _store: Any
    id: str
    metadata: dict[str, Any]

    def add_tag(self, tag: str) -> None:
        """Add a user tag. Each edit is its own write-once record, so concurrent edits lose nothing."""
        self.add_tags(_one_or_many(tag))

    def add_tags(self, tags: Iterable[str]) -> None:
        last = None
        for tag in _check_tags(tags):
            last = self._store.tag_run(self.id, tag)
        self._reload(last)

    def remove_tag(self, tag: str) -> None:
        self.remove_tags(_one_or_many(tag))

    def remove_tags(self, tags: Iterable[str]) -> None:
        tags = _check_tags(tags)
        system = sorted(t for t in tags if t.startswith(SYSTEM_TAG_PREFIXES))
        if system:
            raise ValueError(f"cannot remove system tags {system} (they describe the run)")
        last = None
        for tag in tags:
            last = self._store.tag_run(self.id, tag, remove=True)
        self._reload(last)

    def replace_tag(self, tag_to_remove: str, tag_to_add: str) -> None:
        self.replace_tags(_one_or_many(tag_to_remove), _one_or_many(tag_to_add))

    def replace_tags(self, tags_to_remove: Iterable[str], tags_to_add: Iterable[str]) -> None:
        """Remove then add (as Metaflow: a tag in both lists ends up present; both empty is an error)."""
        tags_to_remove, tags_to_add = _check_tags(tags_to_remove), _check_tags(tags_to_add)
        if not tags_to_remove and not tags_to_add:
            raise ValueError("replace_tags: give at least one tag to remove or to add")
        self.remove_tags(tags_to_remove)
        self.add_tags(tags_to_add)

    def _reload(self, until: str | None = None) -> None:
        """After an edit: the run as it was right after it (as Metaflow's answer to the edit), so a
        concurrent edit by another task cannot make the caller's own edit look lost."""
        self.metadata = self._store.read_run(self.id, until=until) or self.metadata


def _check_tags(tags: Iterable[str]) -> list[str]:
    out = list(tags) if not isinstance(tags, str) else [tags]
    for tag in out:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > 512:
            raise ValueError(f"a tag is a non-empty string of at most 512 characters, not {tag!r}")
        try:
            tag.encode("utf-8")
        except UnicodeEncodeError:  # e.g. undecodable bytes from a command line
            raise ValueError(f"a tag must be valid text (UTF-8), not {tag!r}") from None
    return out


def _one_or_many(tag: str | Iterable[str]) -> Iterable[str]:
    """``add_tag(["a", "b"])``: Metaflow's deprecated list form, still accepted."""
    return tag if isinstance(tag, (list, tuple, set, frozenset)) else [tag]  # type: ignore[return-value]
