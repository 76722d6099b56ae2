"""Where cards live in the artifact store, and the one way to write, list and read them.

A card is self-contained HTML rendered inside the step (never by the api-server). Its bytes are
an ordinary content-addressed blob (so they are checked on read like any artifact); a small
record per card slot, ``runs/<run>/steps/<step>/<task>/cards/<n>.<hash>.json``, names the blob.
``current.card.refresh()`` writes a new blob and atomically replaces the slot's record, so a
reader sees either the previous or the new version of a card, never a torn one. The record of a
card whose step ended has ``final: True``.
"""

from __future__ import annotations

import hashlib
import re

from airflow_ml_provider.datastore.flow_store import FlowDatastore
from airflow_ml_provider.datastore.records import CardRecord, CorruptRecordError, checksum_of, dumps, now_iso

CARD_NAME = re.compile(r"^[A-Za-z0-9_]{1,100}$")  # card types and ids (Metaflow's rule for ids)


def check_card_name(value: str, what: str) -> str:
    """Refuse a card type or id that could not be a file name or a URL segment."""
    if not isinstance(value, str) or not CARD_NAME.match(value):
        raise ValueError(f"{what} must be 1-100 letters, digits or underscores, not {value!r}")
    return value


def card_hash(attempt: int, card_type: str, card_id: str | None, index: int) -> str:
    """Stable name of a card slot: the same card keeps its hash through refreshes."""
    slot = f"{int(attempt)}/{card_type}/{card_id or ''}/{int(index)}"
    return hashlib.sha256(slot.encode()).hexdigest()[:16]


def _cards_dir(store: FlowDatastore, run_id: str, step: str, task_id: str) -> str:
    return f"{store._task_dir(run_id, step, task_id)}/cards"


def write_card(
    store: FlowDatastore,
    run_id: str,
    step: str,
    task_id: str,
    attempt: int,
    *,
    card_type: str,
    card_id: str | None,
    index: int,
    html: str | bytes,
    final: bool,
) -> CardRecord:
    """Store (or replace) one card of an attempt and return its record."""
    check_card_name(card_type, "card type")
    if card_id is not None:
        check_card_name(card_id, "card id")
    data = html.encode() if isinstance(html, str) else bytes(html)
    key, _ = store.put_blob(data)
    record: CardRecord = {
        "type": card_type,
        "id": card_id,
        "hash": card_hash(attempt, card_type, card_id, index),
        "attempt": int(attempt),
        "index": int(index),
        "updated_at": now_iso(),
        "final": bool(final),
        "blob": key,
        "checksum": checksum_of(data),
        "size": len(data),
    }
    path = f"{_cards_dir(store, run_id, step, task_id)}/{int(attempt)}.{record['hash']}.json"
    store.backend.write(path, dumps(record))
    return record


def list_cards(
    store: FlowDatastore, run_id: str, step: str, task_id: str, attempt: int | None = None
) -> list[CardRecord]:
    """Cards of one attempt in decorator order; ``attempt=None``: the newest attempt that has cards.

    Raises :class:`CorruptRecordError` naming the file when a card record is unreadable.
    """
    folder = _cards_dir(store, run_id, step, task_id)
    by_attempt: dict[int, list[str]] = {}
    for name in store.backend.list_dir(folder):
        head, _, rest = name.partition(".")
        if head.isdigit() and rest.endswith(".json"):
            by_attempt.setdefault(int(head), []).append(name)
    if not by_attempt:
        return []
    chosen = max(by_attempt) if attempt is None else int(attempt)
    records = [store._read_json(f"{folder}/{name}") for name in by_attempt.get(chosen, [])]
    for record in records:
        if not isinstance(record.get("blob"), str) or not isinstance(record.get("hash"), str):
            raise CorruptRecordError(f"card record of {store.where(folder)} has no blob or hash: {record!r:.200}")
    return sorted(records, key=lambda r: (r.get("index", 0), r["hash"]))


def read_card_html(store: FlowDatastore, record: CardRecord) -> str:
    """The card's HTML, checked against its checksum (ArtifactIntegrityError when rotten or gone)."""
    data = store.get_blob(record["blob"], f"card {record.get('type')}/{record.get('hash')}", record.get("checksum"))
    return bytes(data).decode("utf-8", errors="replace")
