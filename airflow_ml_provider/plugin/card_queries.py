"""Card and metric queries for the UI plugin (kept apart from :mod:`.queries`, which is at its size budget).

Cards are read through the store's one card contract (:mod:`~airflow_ml_provider.datastore.card_store`):
their HTML was rendered inside the step, so the api-server only serves stored bytes, checked
against their checksum. Every card id from a URL (attempt number, slot hash) is validated here
and an unknown or malformed one is :class:`NotFound` (404), never a path.

Metrics across runs are read from the JSON preview each artifact record carries (computed when
the step wrote it): only previews that are plain numbers are plotted. Artifact bytes are never
loaded or unpickled here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from airflow_ml_provider.datastore.card_store import check_card_name, list_cards, read_card_html
from airflow_ml_provider.datastore.ids import InvalidIdError
from airflow_ml_provider.datastore.records import CardRecord, CorruptRecordError
from airflow_ml_provider.plugin.queries import NotFound, StoreReader, valid

CARD_HASH = re.compile(r"[0-9a-f]{16}")  # card_store.card_hash: 16 lowercase hex digits
ATTEMPT = re.compile(r"0|[1-9][0-9]{0,5}")  # ASCII digits only: int() would also take "²"
ARTIFACT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")  # artifacts are Python attribute names
DEFAULT_RUNS = 30
MAX_RUNS = 100  # each run costs a few metadata reads: the plot stays cheap
CHOICE_RUNS = 5  # runs looked at to offer (step, artifact) pairs


# -- cards ---------------------------------------------------------------------------------------
def valid_card_hash(value: str) -> str:
    """A card slot hash from a URL, else NotFound."""
    if not isinstance(value, str) or not CARD_HASH.fullmatch(value):
        raise NotFound(f"bad card id {value[:40]!r}")
    return value


def valid_attempt(value: str, attempts: list[int]) -> int:
    """An attempt number from a URL that this task has, else NotFound."""
    if not isinstance(value, str) or not ATTEMPT.fullmatch(value) or int(value) not in attempts:
        raise NotFound(f"no attempt {value[:20]!r}")
    return int(value)


def _well_formed(record: CardRecord) -> bool:
    """A record the pages can name safely: type and id pass the card-name rule, numbers are ints."""
    try:
        check_card_name(str(record.get("type")), "card type")
        if record.get("id") is not None:
            check_card_name(str(record.get("id")), "card id")
    except ValueError:
        return False
    return CARD_HASH.fullmatch(str(record.get("hash"))) is not None and isinstance(record.get("attempt"), int)


@dataclass(frozen=True)
class TaskCards:
    """The cards shown for one task: those of its newest attempt that has cards."""

    cards: list[CardRecord]
    problem: str | None = None  # an unreadable card record, said on the page instead of a 500

    @property
    def attempt(self) -> int | None:
        return self.cards[0].get("attempt") if self.cards else None


def task_cards(reader: StoreReader, flow: str, run_id: str, step: str, task_id: str) -> TaskCards:
    """Cards of the task's newest attempt that wrote any (a retry that has none yet shows the last ones)."""
    step, task_id = valid(step, "step name"), valid(task_id, "task id")
    try:
        records = list_cards(reader.flow(flow), run_id, step, task_id)
    except CorruptRecordError as exc:
        return TaskCards([], str(exc))
    return TaskCards([r for r in records if _well_formed(r)])


def find_card(
    reader: StoreReader, flow: str, run_id: str, step: str, task_id: str, attempt: int, card_hash: str
) -> CardRecord:
    """The record of one card slot of one attempt, else NotFound."""
    try:
        records = list_cards(reader.flow(flow), run_id, step, task_id, attempt)
    except CorruptRecordError as exc:
        raise NotFound(str(exc)) from None
    for record in records:
        if record.get("hash") == card_hash and _well_formed(record):
            return record
    raise NotFound(f"no card {card_hash} in attempt {attempt} of {step}/{task_id}")


def card_html(reader: StoreReader, flow: str, record: CardRecord) -> str:
    """The card's stored HTML, checked (ArtifactIntegrityError when its blob is rotten or gone)."""
    return read_card_html(reader.flow(flow), record)


def card_label(record: CardRecord) -> str:
    """``default``, or ``default: my_id`` for a card with an id."""
    return f"{record.get('type')}: {record.get('id')}" if record.get("id") else str(record.get("type"))


# -- metrics across runs -----------------------------------------------------------------------
_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_NUMPY_SCALAR = re.compile(r"(?:np|numpy)\.(?:float|int|uint)(?:16|32|64)?\((.{1,60})\)")


def valid_artifact(value: str) -> str:
    """An artifact name from a URL, else NotFound."""
    if not isinstance(value, str) or not ARTIFACT_NAME.fullmatch(value):
        raise NotFound(f"bad artifact name {value[:40]!r}")
    return value


def run_count(n: int) -> int:
    """The ``n`` query value clamped to 1..MAX_RUNS."""
    return max(1, min(MAX_RUNS, int(n)))


def numeric_value(record: Any) -> float | None:
    """The artifact's value when its stored preview is a plain finite number, else None.

    Reads the preview text with a strict number pattern (``0.93``, ``12``, ``np.float64(0.5)``,
    ``np.int64(3)``) or a one-value array preview; never evaluates anything.
    """
    preview = record.get("preview") if isinstance(record, dict) else None
    if not isinstance(preview, dict):
        return None
    value: Any = None
    kind, text = preview.get("kind"), preview.get("text")
    # numpy ints and float32 are previewed as text ("np.int64(3)"): trusted only for a numpy record
    numpy_text = kind == "text" and str(record.get("type") or "").startswith("numpy.")
    if (kind == "scalar" or numpy_text) and isinstance(text, str):
        text = text.strip()
        numpy = _NUMPY_SCALAR.fullmatch(text)
        text = numpy.group(1) if numpy else text
        value = float(text) if _NUMBER.fullmatch(text) else None
    elif preview.get("kind") == "array" and preview.get("shape") in ([], [1]):
        values = preview.get("values")
        if isinstance(values, list) and len(values) == 1:
            value = values[0]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class MetricPoint:
    run_id: str
    created_at: str
    status: str
    value: float


@dataclass(frozen=True)
class MetricSeries:
    """One artifact of one step over the newest runs, oldest first, plus the runs left out and why."""

    flow: str
    step: str
    artifact: str
    points: list[MetricPoint]
    skipped: list[tuple[str, str]]  # (run id, reason)

    def as_json(self) -> dict[str, Any]:
        return {
            "flow_name": self.flow,
            "step": self.step,
            "artifact": self.artifact,
            "points": [p.__dict__ for p in self.points],
            "skipped": [{"run_id": r, "reason": why} for r, why in self.skipped],
        }


def _task_artifacts(reader: StoreReader, flow: str, run_id: str, step: str) -> tuple[dict[str, Any] | None, str]:
    """The artifact records of the step's one task's newest successful attempt, or why there are none."""
    try:
        ids = reader.task_ids(flow, run_id, step)
    except (NotFound, InvalidIdError):
        ids = []
    if not ids:
        return None, f"no step {step}"
    if len(ids) > 1:
        return None, f"{step} is a foreach step ({len(ids)} tasks)"
    try:
        attempt = reader.task(flow, run_id, step, ids[0]).successful
    except NotFound:
        attempt = None
    if attempt is None:
        return None, f"{step} has no successful attempt"
    artifacts = attempt.get("artifacts")
    return (artifacts if isinstance(artifacts, dict) else {}), ""


def metric_series(reader: StoreReader, dag_id: str, step: str, artifact: str, n: int) -> MetricSeries:
    """``step.artifact`` over the newest ``n`` runs of the DAG (previews only)."""
    step, artifact = valid(step, "step name"), valid_artifact(artifact)
    flow = reader.flow_for_dag(dag_id)
    runs = reader.runs(flow, dag_id=dag_id)[: run_count(n)]
    points, skipped = [], []
    for run in reversed(runs):  # oldest first: time runs left to right
        run_id = str(run["run_id"])
        artifacts, why = _task_artifacts(reader, flow, run_id, step)
        if artifacts is None:
            skipped.append((run_id, why))
            continue
        if artifact not in artifacts:
            skipped.append((run_id, f"no artifact {artifact}"))
            continue
        value = numeric_value(artifacts[artifact])
        if value is None:
            kind = artifacts[artifact].get("type") if isinstance(artifacts[artifact], dict) else None
            skipped.append((run_id, f"not a plain number ({kind or 'unknown type'})"))
            continue
        points.append(MetricPoint(run_id, str(run.get("created_at") or ""), str(run.get("status") or ""), value))
    return MetricSeries(flow, step, artifact, points, skipped)


def metric_choices(reader: StoreReader, dag_id: str) -> dict[str, list[str]]:
    """``{step: [numeric artifact names]}`` seen in the newest few runs: what the metric page offers."""
    flow = reader.flow_for_dag(dag_id)
    found: dict[str, set[str]] = {}
    for run in reader.runs(flow, dag_id=dag_id)[:CHOICE_RUNS]:
        run_id = str(run["run_id"])
        for step in reader.steps(flow, run_id):
            try:
                valid(step, "step name")
            except NotFound:
                continue
            artifacts, _ = _task_artifacts(reader, flow, run_id, step)
            names = {
                str(name)
                for name, rec in (artifacts or {}).items()
                if ARTIFACT_NAME.fullmatch(str(name)) and numeric_value(rec) is not None
            }
            if names:
                found.setdefault(step, set()).update(names)
    return {step: sorted(names) for step, names in sorted(found.items())}
