"""Cards and a metric history for the plugin tests, written with the store's card contract.

``CardFlow`` (DAG ``CardFlow``) has seven runs. Five have a numeric ``train.accuracy`` (the
metric view plots them) and ``train.epochs`` (a numpy int, previewed as text ``np.int64(1)``),
one a string and one a ``train`` step that failed (both skipped with a note). The newest
numeric run's ``train`` task has a failed attempt 0 with an old card and a successful attempt 1
with three cards: a plain one, a hostile one (script, event handler, form, remote image) and a
card still being refreshed (``final: False``); its ``end`` task has one card whose blob rotted on
disk. ``DeniedFlow``'s start task gets a card so the 403 of the card routes can be checked.
Cards are written with ``write_card`` directly, so these tests do not depend on the ``@card``
decorator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from airflow_ml_provider.datastore import FlowDatastore, StorageBackend
from airflow_ml_provider.datastore.card_store import write_card

CARD_FLOW = "CardFlow"
ACCURACIES = [0.61, 0.72, 0.68, 0.85, 0.9]
PLAIN_CARD = "<!doctype html><html><body><h1>Model report</h1><p id=acc>accuracy 0.9</p></body></html>"
OLD_CARD = "<html><body><p>card of the failed attempt</p></body></html>"
HOSTILE_CARD = (
    "<html><body><p id=hostile>hostile card body</p>"
    "<script>window.pwned = 'script'; try { parent.pwned = 'parent'; } catch (e) {}</script>"
    "<img src=x onerror=\"window.pwned = 'onerror'\">"
    "<img src='https://example.invalid/beacon.png'>"
    "<form action='https://example.invalid/steal'><input name=q></form></body></html>"
)
ROTTEN_CARD = "<html><body><p>rotten report</p></body></html>"
PROGRESS_CARD = "<html><body><p>epoch 3 of 10</p></body></html>"


def _run_with_train(
    ds: FlowDatastore, run_fn: Any, attempt_fn: Any, n: int, train: dict[str, Any] | None, retried: bool = False
) -> tuple[str, str]:
    """One CardFlow run: start, then train (failed when ``train`` is None; a failed attempt 0
    before the successful one when ``retried``), then end."""
    airflow_run_id = f"manual__2026-11-20T{10 + n:02d}:00:00+00:00_card{n}"
    run_id = run_fn(
        ds, airflow_run_id, CARD_FLOW, f"2026-11-20T{10 + n:02d}:00:00+00:00", steps=["start", "train", "end"]
    )
    attempt_fn(ds, run_id, "start", "0", 0, {})
    exc = {"type": "ValueError", "message": "diverged", "traceback": ""}
    if train is None or retried:
        attempt_fn(ds, run_id, "train", "0", 0, {}, status="failed", new=[], exception=exc)
    if train is not None:
        attempt_fn(ds, run_id, "train", "0", 1 if retried else 0, train)
        attempt_fn(ds, run_id, "end", "0", 0, train, new=[])
    return airflow_run_id, run_id


def build_cards(backend: StorageBackend, ids: dict[str, Any], run_fn: Any, attempt_fn: Any) -> dict[str, Any]:
    """Write CardFlow and DeniedFlow's card; ``run_fn``/``attempt_fn`` are store_fixtures' writers."""
    ds = FlowDatastore(CARD_FLOW, backend)
    out: dict[str, Any] = {"card_runs": [], "card_airflow_runs": []}
    for n, acc in enumerate(ACCURACIES):
        train = {"accuracy": ds.save_artifact("accuracy", acc), "epochs": ds.save_artifact("epochs", np.int64(n + 1))}
        airflow_run_id, run_id = _run_with_train(ds, run_fn, attempt_fn, n, train, retried=n == len(ACCURACIES) - 1)
        out["card_runs"].append(run_id)
        out["card_airflow_runs"].append(airflow_run_id)
    _, out["card_text_run"] = _run_with_train(
        ds, run_fn, attempt_fn, 5, {"accuracy": ds.save_artifact("accuracy", "n/a")}
    )
    _, out["card_failed_run"] = _run_with_train(ds, run_fn, attempt_fn, 6, None)

    # the newest numeric run's train task: its failed attempt 0 has a card, attempt 1 three cards
    run_id = out["card_runs"][-1]
    out["card_run"], out["card_airflow_run"] = run_id, out["card_airflow_runs"][-1]
    common = {"card_type": "default", "final": True}
    old = write_card(ds, run_id, "train", "0", 0, index=0, card_id=None, html=OLD_CARD, **common)
    plain = write_card(ds, run_id, "train", "0", 1, index=0, card_id=None, html=PLAIN_CARD, **common)
    hostile = write_card(ds, run_id, "train", "0", 1, index=1, card_id="hostile", html=HOSTILE_CARD, **common)
    progress = write_card(
        ds, run_id, "train", "0", 1, card_type="blank", card_id="progress", index=2, html=PROGRESS_CARD, final=False
    )
    # the end task's card whose blob then rots on disk: served as 409, never as other bytes
    rotten = write_card(ds, run_id, "end", "0", 0, index=0, card_id="rotten", html=ROTTEN_CARD, **common)
    backend.write(ds.blob_path(rotten["blob"]), ROTTEN_CARD.replace("report", "REPORT").encode())
    out["cards"] = {"old": old, "plain": plain, "hostile": hostile, "progress": progress, "rotten": rotten}

    denied = FlowDatastore("DeniedFlow", backend)
    out["denied_card"] = write_card(
        denied, ids["denied_run"], "start", "0", 0, index=0, card_id=None, html=PLAIN_CARD, **common
    )
    return out
