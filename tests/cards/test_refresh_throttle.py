"""``refresh()`` throttling: at most one write per ``refresh_interval``, the latest state written
when the interval ends, and never a running version over the final card.

In-process against a real local store (the step's own ``StepCards`` with its ``current.card``).
"""

from __future__ import annotations

import time
from pathlib import Path

from airflow_ml_provider.cards import ProgressBar
from airflow_ml_provider.datastore import FlowDatastore, get_backend
from airflow_ml_provider.datastore.card_store import list_cards, read_card_html
from airflow_ml_provider.dsl.decorators import CardOptions, Cards
from airflow_ml_provider.runtime.cards import StepCards


def _cards(tmp_path: Path, interval: float) -> tuple[StepCards, FlowDatastore, list[str]]:
    store = FlowDatastore("ThrottleFlow", get_backend(str(tmp_path / "store")))
    lines: list[str] = []
    info = {"flow_name": "ThrottleFlow", "run_id": "r1", "step": "start", "task_id": "0", "attempt": 0}
    cards = StepCards(
        Cards(cards=(CardOptions(type="blank", refresh_interval=interval),)),
        store, ("r1", "start", "0", 0), lambda: info, [], lines.append,
    )  # fmt: skip
    return cards, store, lines


def _shown(store: FlowDatastore) -> tuple[bool, str]:
    (record,) = list_cards(store, "r1", "start", "0")
    return record["final"], read_card_html(store, record)


def test_a_throttled_refresh_is_written_when_the_interval_ends(tmp_path: Path) -> None:
    cards, store, _ = _cards(tmp_path, interval=1.0)
    bar = ProgressBar(max=10)
    cards.collector.append(bar)
    cards.collector.refresh()
    assert '<progress max="10" value="0">' in _shown(store)[1]
    for value in range(1, 6):  # a fast loop: no write for each of these
        bar.update(value)
        cards.collector.refresh()
    assert '<progress max="10" value="0">' in _shown(store)[1]
    time.sleep(1.6)
    final, html = _shown(store)
    assert not final and '<progress max="10" value="5">' in html  # the latest state, not a lost one


def test_a_pending_refresh_never_replaces_the_final_card(tmp_path: Path) -> None:
    cards, store, _ = _cards(tmp_path, interval=0.5)
    bar = ProgressBar(max=10)
    cards.collector.append(bar)
    cards.collector.refresh()
    bar.update(3)
    cards.collector.refresh()  # deferred
    cards.finish({"flow_name": "ThrottleFlow", "status": "success"})
    time.sleep(1.0)
    final, html = _shown(store)
    assert final and '<progress max="10" value="3">' in html
    cards.collector.refresh(force=True)  # after the end: ignored
    assert _shown(store)[0] is True
