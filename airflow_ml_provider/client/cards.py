"""``get_cards(task)``: the cards of a task, as Metaflow's ``metaflow.cards.get_cards``.

Reads card records through ``datastore/card_store.py`` (the same reader as the UI plugin). The
HTML is loaded on first use and checked against its checksum.
"""

from __future__ import annotations

import html
from collections.abc import Iterator

from airflow_ml_provider.client.core import Task
from airflow_ml_provider.datastore.card_store import list_cards, read_card_html
from airflow_ml_provider.datastore.records import CardRecord


class Card:
    """One card: ``.html`` (also ``get()``), ``.id``, ``.type``, ``.hash``, ``.final``, ``.attempt``."""

    def __init__(self, task: Task, record: CardRecord) -> None:
        self._task, self.record = task, record
        self._html: str | None = None

    @property
    def html(self) -> str:
        if self._html is None:
            self._html = read_card_html(self._task._store, self.record)
        return self._html

    def get(self) -> str:
        return self.html

    @property
    def id(self) -> str | None:
        return self.record.get("id")

    @property
    def type(self) -> str:
        return str(self.record.get("type"))

    @property
    def hash(self) -> str:
        return self.record["hash"]

    @property
    def final(self) -> bool:
        """False while the step still runs (a ``current.card.refresh()`` version)."""
        return bool(self.record.get("final"))

    @property
    def attempt(self) -> int:
        return int(self.record.get("attempt", 0))

    @property
    def pathspec(self) -> str:
        return self._task.pathspec

    def _repr_html_(self) -> str:
        return (
            f'<iframe sandbox="" style="width:100%;height:600px;border:0" srcdoc="{html.escape(self.html)}"></iframe>'
        )

    def __repr__(self) -> str:
        return f"<Card type={self.type} id={self.id} hash={self.hash} of {self.pathspec}>"


class CardContainer:
    """The cards of one task, in decorator order: ``len``, iterate, index (as Metaflow's)."""

    def __init__(self, cards: list[Card]) -> None:
        self._cards = cards

    def __len__(self) -> int:
        return len(self._cards)

    def __iter__(self) -> Iterator[Card]:
        return iter(self._cards)

    def __getitem__(self, index: int) -> Card:
        return self._cards[index]

    def _repr_html_(self) -> str:
        return "".join(f"<h3>{html.escape(c.type)} {html.escape(c.id or '')}</h3>{c._repr_html_()}" for c in self)

    def __repr__(self) -> str:
        return f"CardContainer({self._cards!r})"


def _origin_task(task: Task) -> Task | None:
    cloned = task.metadata.get("cloned_from")  # "run/step/task/attempt" of a resumed run's reused task
    if not cloned:
        return None
    run, step, task_id, attempt = cloned.split("/")
    return Task(f"{task.flow_name}/{run}/{step}/{task_id}", attempt=int(attempt), _namespace_check=False)


def get_cards(
    task: Task | str, id: str | None = None, type: str | None = None, follow_resumed: bool = True
) -> CardContainer:
    """Cards of ``task`` (a ``Task`` or its pathspec), of the attempt the Task shows.

    ``id`` / ``type`` filter; with ``follow_resumed`` a task reused by ``resume`` shows the cards
    of the origin task it points at (its own attempt ran no code and has none).
    """
    if isinstance(task, str):
        task = Task(task, _namespace_check=False)
    if not isinstance(task, Task):
        raise TypeError(f"get_cards needs a Task or a task pathspec, not {task.__class__.__name__}")
    if follow_resumed:
        task = _origin_task(task) or task
    records = list_cards(task._store, task.run_id, task.step_name, task.id, attempt=task.attempt)
    cards = [
        Card(task, r) for r in records if (id is None or r.get("id") == id) and (type is None or r.get("type") == type)
    ]
    return CardContainer(cards)


def card_attempt_records(task: Task, attempt: int | None) -> list[CardRecord]:
    """For the command lines: a given attempt's cards, else those of the attempt the Task shows."""
    chosen = task.attempt if attempt is None else attempt
    return list_cards(task._store, task.run_id, task.step_name, task.id, attempt=chosen)


def card_from_record(task: Task, record: CardRecord) -> Card:
    return Card(task, record)


__all__ = ["Card", "CardContainer", "get_cards"]
