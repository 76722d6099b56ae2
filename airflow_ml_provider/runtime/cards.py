"""``current.card`` inside a running step, and writing the step's cards to the store.

Metaflow's rules (``CardComponentCollector``): ``current.card.append/extend/clear`` edit the
*default editable* card: the only card of the step, else the one with ``customize=True``, else
the only one without an ``id``; when none can be chosen the call warns (in the task log and in
the cards) and does nothing. ``current.card["id"]`` reaches a card by its id.

``refresh()`` renders and stores a card while the step runs (``final: False``), at most once per
``refresh_interval`` seconds per card unless ``force=True`` (a refresh inside the interval is
written, from a timer, when the interval ends); the final card is written after the
attempt's artifacts are stored, whether the step succeeded or failed. Nothing here raises into
the user's step: a card that cannot be rendered or stored is a log line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from airflow_ml_provider.cards.components import Error, MetaflowCardComponent
from airflow_ml_provider.cards.layout import render_card
from airflow_ml_provider.datastore.card_store import write_card
from airflow_ml_provider.datastore.flow_store import FlowDatastore
from airflow_ml_provider.dsl.decorators import CardOptions, Cards


def _is_component(value: Any) -> bool:
    return isinstance(value, MetaflowCardComponent)


class CardSlot:
    """One ``@card`` of the running step: its components (``current.card["id"]`` is one of these)."""

    def __init__(self, options: CardOptions, index: int, owner: StepCards) -> None:
        self.options, self.index, self._owner = options, index, owner
        self._components: list[MetaflowCardComponent] = []
        self._last_write = 0.0
        self._timer: threading.Timer | None = None

    @property
    def type(self) -> str:
        return self.options.type

    @property
    def id(self) -> str | None:
        return self.options.id

    @property
    def components(self) -> list[MetaflowCardComponent]:
        return self._components

    def append(self, component: MetaflowCardComponent, id: str | None = None) -> None:
        if not _is_component(component):
            self._owner.warn(f"{component!r} is not a card component (Markdown, Table, ...); it is not shown")
            return
        if id is not None:
            component.component_id = id
        self._components.append(component)

    def extend(self, components: Iterable[MetaflowCardComponent]) -> None:
        for component in components:
            self.append(component)

    def clear(self) -> None:
        self._components.clear()

    def refresh(self, data: Any = None, force: bool = False) -> None:
        """Store this card now (``final: False``), at most once per ``refresh_interval``: a refresh
        inside the interval is written when it ends, so the latest state always shows up."""
        wait = float(self.options.refresh_interval) - (time.monotonic() - self._last_write)
        if force or wait <= 0:
            self._write_now()
        elif self._timer is None:
            self._timer = threading.Timer(wait, self._write_now)
            self._timer.daemon = True
            self._timer.start()

    def _write_now(self) -> None:
        self._timer = None
        self._last_write = time.monotonic()
        self._owner.write(self, final=False)

    def __iter__(self) -> Iterator[MetaflowCardComponent]:
        return iter(self._components)

    def __len__(self) -> int:
        return len(self._components)


class _NoCard(CardSlot):
    """What ``current.card["unknown"]`` returns: accepts calls, shows nothing (Metaflow warns too)."""

    def append(self, component: MetaflowCardComponent, id: str | None = None) -> None:
        pass

    def refresh(self, data: Any = None, force: bool = False) -> None:
        pass


class CardCollector:
    """``current.card``: Metaflow's ``CardComponentCollector`` surface."""

    def __init__(self, owner: StepCards) -> None:
        self._owner = owner
        slots = owner.slots
        editable = [s for s in slots if s.options.customize] or slots
        if len(editable) > 1:
            editable = [s for s in slots if s.id is None]
        self._default = editable[0] if len(editable) == 1 else None
        self._warned: set[str] = set()

    def _target(self, action: str) -> CardSlot | None:
        if self._default is None and action not in self._warned:
            self._warned.add(action)
            if not self._owner.slots:
                self._owner.warn(f"current.card.{action}(): this step has no @card decorator; nothing is shown")
            else:
                self._owner.warn(
                    f"current.card.{action}(): this step has several cards and none is the default one "
                    "(one without id=, or customize=True); use current.card['<id>'].{action}(...)"
                )
        return self._default

    def append(self, component: MetaflowCardComponent, id: str | None = None) -> None:
        slot = self._target("append")
        if slot is not None:
            slot.append(component, id=id)

    def extend(self, components: Iterable[MetaflowCardComponent]) -> None:
        slot = self._target("extend")
        if slot is not None:
            slot.extend(components)

    def clear(self) -> None:
        slot = self._target("clear")
        if slot is not None:
            slot.clear()

    @property
    def components(self) -> list[MetaflowCardComponent]:
        return self._default.components if self._default is not None else []

    def refresh(self, data: Any = None, force: bool = False) -> None:
        """Store the default card now (as Metaflow; ``current.card["id"].refresh()`` for another)."""
        slot = self._target("refresh")
        if slot is not None:
            slot.refresh(data, force=force)

    def get(self, type: str | None = None) -> list[CardSlot]:
        return [s for s in self._owner.slots if s.type == type]

    def __getitem__(self, key: str) -> CardSlot:
        for slot in self._owner.slots:
            if slot.id == key:
                return slot
        if f"id:{key}" not in self._warned:
            self._warned.add(f"id:{key}")
            known = ", ".join(repr(s.id) for s in self._owner.slots if s.id) or "none"
            self._owner.warn(f"current.card[{key!r}]: no @card(id={key!r}) on this step (ids: {known})")
        return _NoCard(CardOptions(), -1, self._owner)

    def __setitem__(self, key: str, value: Iterable[MetaflowCardComponent]) -> None:
        slot = self[key]
        slot.clear()
        slot.extend([value] if _is_component(value) else value)

    def __contains__(self, key: str) -> bool:
        return any(s.id == key for s in self._owner.slots)

    def __iter__(self) -> Iterator[CardSlot]:
        return iter(self._owner.slots)

    def __len__(self) -> int:
        return len(self._owner.slots)


class StepCards:
    """The cards of one attempt: renders them and writes them through ``card_store``."""

    def __init__(
        self,
        decorator: Cards | None,
        store: FlowDatastore,
        identity: tuple[str, str, str, int],
        info: Callable[[], Mapping[str, Any]],
        parameter_names: Iterable[str],
        log: Callable[[str], None],
    ) -> None:
        self.store, self.identity, self._info, self._log = store, identity, info, log
        self.parameter_names = list(parameter_names)
        self.slots = [CardSlot(options, i, self) for i, options in enumerate(decorator.cards if decorator else ())]
        self._warnings: list[str] = []
        self._lock = threading.Lock()
        self._finished = False
        self.collector = CardCollector(self)

    def warn(self, message: str) -> None:
        self._log(f"@card warning: {message}")
        self._warnings.append(message)

    def write(self, slot: CardSlot, *, final: bool, info: Mapping[str, Any] | None = None) -> None:
        """Render and store one card; a failure is a log line (and, if possible, an error card)."""
        run_id, step, task_id, attempt = self.identity
        with self._lock:
            if self._finished and not final:  # a deferred refresh never replaces the final card
                return
            components = [*slot.components, *(Error("@card warning", w) for w in self._warnings)]
            html = self._render(slot, components, info or self._info())
            try:
                write_card(self.store, run_id, step, task_id, attempt, card_type=slot.type, card_id=slot.id,
                           index=slot.index, html=html, final=final)  # fmt: skip
            except Exception as exc:
                self._log(f"@card: could not store the {slot.type} card {slot.id or ''}: {type(exc).__name__}: {exc}")

    def _render(self, slot: CardSlot, components: list[MetaflowCardComponent], info: Mapping[str, Any]) -> str:
        """Render in a helper thread, waiting at most ``@card(timeout=...)`` seconds (Metaflow's meaning)."""
        result: list[str] = []

        def render() -> None:
            try:
                result.append(render_card(slot.type, components, info, self.parameter_names))
            except Exception as exc:  # a broken layout must not lose the card silently
                result.append(render_card("blank", [Error(f"the {slot.type} card could not render", repr(exc))], {}))

        worker = threading.Thread(target=render, name=f"card-{slot.index}", daemon=True)
        worker.start()
        worker.join(float(slot.options.timeout))
        if result:
            return result[0]
        message = f"rendering the {slot.type} card took longer than @card(timeout={slot.options.timeout:g}) seconds"
        self._log(f"@card: {message}")
        return render_card("blank", [Error("card timed out", message)], {})

    def finish(self, info: Mapping[str, Any]) -> None:
        """Write every card as final, with the attempt's record (status, artifacts, exception)."""
        with self._lock:
            self._finished = True
        for slot in self.slots:
            if slot._timer is not None:
                slot._timer.cancel()
            self.write(slot, final=True, info=info)
