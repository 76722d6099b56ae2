"""Cards written by real runs: ``python flow.py run`` on a local root and on S3 (moto_server),
read back with ``get_cards``, ``list_cards`` and ``python flow.py card view|list`` as a user would.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from airflow_ml_provider.cards import get_cards
from airflow_ml_provider.client import Flow, Task, namespace, set_artifact_root
from airflow_ml_provider.datastore import FlowDatastore, get_backend
from airflow_ml_provider.datastore.card_store import list_cards, read_card_html
from tests.fixtures.airflow_local import airflow_env

CARD_FLOW = Path(__file__).resolve().parents[1] / "flows" / "card_flow.py"

EDGE_FLOW = """
from airflow_ml_provider import FlowSpec, Parameter, card, current, step
from airflow_ml_provider.cards import Image, Markdown, Table, VegaChart


class EdgeCardFlow(FlowSpec):
    fail = Parameter("fail", default=False, type=bool)

    @card(type="blank")
    @step
    def start(self):
        current.card.append(Markdown("first"))
        current.card.append(VegaChart({"mark": "no-such-mark"}))
        current.card.append(Image(b"GIF89a not allowed"))
        current.card.extend([Markdown("extended"), Table([["<b>x</b>"]])])
        self.ok = True
        self.next(self.middle)

    @step
    def middle(self):
        current.card.append(Markdown("nowhere"))  # no @card here: a warning, not an error
        self.next(self.end)

    @card(type="blank", id="a")
    @card(type="blank", id="b")
    @step
    def end(self):
        current.card.append(Markdown("ambiguous"))  # two cards with ids: no default card
        current.card["a"].append(Markdown("in a"))
        current.card["b"].append(Markdown("in b"))
        current.card["b"].clear()
        current.card["b"] = [Markdown("replaced b")]
        current.card["zzz"].append(Markdown("unknown id"))
        if self.fail:
            raise RuntimeError("the end step fails after filling its cards")


if __name__ == "__main__":
    EdgeCardFlow()
"""


def _run(flow_file: Path, root: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(flow_file), *args], env=airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=root),
        capture_output=True, text=True, timeout=300, cwd=flow_file.parent,
    )  # fmt: skip


@pytest.fixture
def folder(tmp_path: Path):
    shutil.copy(CARD_FLOW, tmp_path / "card_flow.py")
    (tmp_path / "edge_flow.py").write_text(textwrap.dedent(EDGE_FLOW))
    namespace(None)
    yield tmp_path
    set_artifact_root(None)


def _check_card_flow(run_id: str) -> None:
    run = Flow("CardFlow")[run_id]
    start = get_cards(run["start"].task)
    assert len(start) == 1 and start[0].type == "default" and start[0].id is None and start[0].final
    page = start[0].html
    params, artifacts = page.split("<h2>Parameters</h2>")[1].split("<h2>Artifacts</h2>")
    assert "<code>alpha</code>" in params and "0.5" in params
    assert "<code>scores</code>" in artifacts and "0.9" in artifacts and "alpha" not in artifacts

    cards = get_cards(run["report"].task)
    assert [(c.type, c.id) for c in cards] == [("default", "summary"), ("blank", "report")]
    assert [c.type for c in get_cards(f"CardFlow/{run_id}/report/2", id="report")] == ["blank"]
    assert len(get_cards(run["report"].task, type="default")) == 1
    summary, report = cards
    assert "{&#x27;best&#x27;: 0.9}" in summary.html and "<code>best</code>" in summary.html
    assert "<h1>Report</h1>" in report.html and '<progress max="3" value="3"></progress>' in report.html
    assert "data:image/png;base64," in report.html and "data:image/svg+xml;base64," in report.html
    assert "<script" not in report.html.lower() and '<div class="error">' not in report.html
    assert len(cards[1].hash) == 16 and cards[1].hash != cards[0].hash
    assert list(cards) == [cards[0], cards[1]]


def test_card_flow_writes_default_and_blank_cards(folder: Path) -> None:
    root = str(folder / "store")
    result = _run(folder / "card_flow.py", root, "run", "--run-id-file", str(folder / "run_id"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    set_artifact_root(root)
    _check_card_flow((folder / "run_id").read_text().strip())


def test_refresh_shows_the_card_while_the_step_runs(folder: Path) -> None:
    root = str(folder / "store")
    go = folder / "go"
    proc = subprocess.Popen(
        [sys.executable, str(folder / "card_flow.py"), "run", "--wait_for", str(go), "--run-id-file",
         str(folder / "run_id")],
        env=airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=root), cwd=folder,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        store = FlowDatastore("CardFlow", get_backend(root))
        deadline, running = time.time() + 120, []
        while time.time() < deadline and not running:
            run_id = (folder / "run_id").read_text().strip() if (folder / "run_id").exists() else None
            if run_id:
                running = [r for r in list_cards(store, run_id, "report", "2") if r["id"] == "report"]
            time.sleep(0.2)
        assert running, "no card appeared while the step waited"
        record = running[0]
        assert record["final"] is False and proc.poll() is None  # the step is still running
        html = read_card_html(store, record)
        assert "<h1>Report</h1>" in html and '<progress max="3" value="0"></progress>' in html
        assert "data:image/png" not in html  # the image is appended later in the step
    finally:
        go.write_text("go")
        out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    (final,) = [r for r in list_cards(store, run_id, "report", "2") if r["id"] == "report"]
    assert final["final"] is True and final["hash"] == record["hash"]  # the same slot, rewritten
    assert '<progress max="3" value="3"></progress>' in read_card_html(store, final)


def test_failing_components_warnings_ids_and_a_failing_step(folder: Path) -> None:
    root = str(folder / "store")
    result = _run(folder / "edge_flow.py", root, "run", "--run-id-file", str(folder / "ok"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "@card warning: current.card.append(): this step has no @card decorator" in result.stdout
    set_artifact_root(root)
    run_id = (folder / "ok").read_text().strip()
    (start,) = get_cards(f"EdgeCardFlow/{run_id}/start/1")
    html = start.html
    assert html.index("<p>first</p>") < html.index("VegaChart could not render") < html.index("<p>extended</p>")
    assert "not a PNG, JPEG or SVG image" in html and "<td>&lt;b&gt;x&lt;/b&gt;</td>" in html
    assert Task(f"EdgeCardFlow/{run_id}/start/1").successful
    assert len(get_cards(f"EdgeCardFlow/{run_id}/middle/2")) == 0
    a, b = get_cards(f"EdgeCardFlow/{run_id}/end/3")
    assert (a.id, b.id) == ("a", "b")
    assert "<p>in a</p>" in a.html and "ambiguous" not in a.html and "ambiguous" not in b.html
    assert "<p>replaced b</p>" in b.html and "in b" not in b.html
    assert "no @card(id=&#x27;zzz&#x27;)" in a.html  # warnings are shown in the cards too

    failed = _run(folder / "edge_flow.py", root, "run", "--fail", "true", "--run-id-file", str(folder / "bad"))
    assert failed.returncode != 0
    bad_run = (folder / "bad").read_text().strip()
    end = Task(f"EdgeCardFlow/{bad_run}/end/3")
    assert end.status == "failed"
    a, b = get_cards(end)
    assert a.final and "<p>in a</p>" in a.html and "<p>replaced b</p>" in b.html


def test_card_view_and_list_cli(folder: Path) -> None:
    root = str(folder / "store")
    assert _run(folder / "card_flow.py", root, "run", "--run-id-file", str(folder / "run_id")).returncode == 0
    run_id = (folder / "run_id").read_text().strip()
    set_artifact_root(root)
    listing = _run(folder / "card_flow.py", root, "card", "list", f"{run_id}/report/2")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert len(lines) == 2 and "type=default  id=summary" in lines[0] and "type=blank  id=report" in lines[1]
    assert all("final" in line for line in lines)

    out = folder / "report.html"
    view = _run(
        folder / "card_flow.py", root, "card", "view", f"{run_id}/report/2", "--id", "report", "--file", str(out)
    )
    assert view.returncode == 0, view.stderr
    assert view.stdout.strip() == str(out) and out.read_text() == get_cards(f"CardFlow/{run_id}/report/2")[1].html
    default = _run(folder / "card_flow.py", root, "card", "view", f"{run_id}/start")  # a step: its task's card
    path = Path(default.stdout.strip())
    assert default.returncode == 0 and path.is_file() and "<h2>Parameters</h2>" in path.read_text()

    missing = _run(folder / "card_flow.py", root, "card", "view", f"{run_id}/end/3")
    assert missing.returncode == 1 and missing.stderr.startswith("error: no cards at ")
    wrong = _run(folder / "card_flow.py", root, "card", "view", f"{run_id}/report/7")
    assert wrong.returncode == 1 and "no task CardFlow/" in wrong.stderr


def test_cards_on_an_s3_root(folder: Path, bucket: str, raw_s3) -> None:
    root = f"s3://{bucket}/store"
    result = _run(folder / "card_flow.py", root, "run", "--run-id-file", str(folder / "run_id"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_id = (folder / "run_id").read_text().strip()
    set_artifact_root(root)
    _check_card_flow(run_id)
    keys = raw_s3.list_objects_v2(Bucket=bucket, Prefix=f"store/CardFlow/runs/{run_id}/steps/report/2/cards/")
    assert len(keys["Contents"]) == 2
    view = _run(folder / "card_flow.py", root, "card", "view", f"{run_id}/report/2", "--id", "report")
    assert view.returncode == 0 and "<h1>Report</h1>" in Path(view.stdout.strip()).read_text()


def test_a_resumed_run_shows_the_reused_tasks_cards(folder: Path) -> None:
    root = str(folder / "store")
    failed = _run(folder / "edge_flow.py", root, "run", "--fail", "true", "--run-id-file", str(folder / "bad"))
    assert failed.returncode != 0
    origin = (folder / "bad").read_text().strip()
    resumed = _run(
        folder / "edge_flow.py", root, "resume", "--origin-run-id", origin, "--run-id-file", str(folder / "new")
    )
    new = (folder / "new").read_text().strip()
    assert new != origin, resumed.stdout[-2000:]
    set_artifact_root(root)
    reused = Task(f"EdgeCardFlow/{new}/start/1")
    assert reused.metadata.get("cloned_from", "").startswith(f"{origin}/start/1/")
    (card,) = get_cards(reused)
    assert card.html == get_cards(f"EdgeCardFlow/{origin}/start/1")[0].html and "<p>first</p>" in card.html
    assert len(get_cards(reused, follow_resumed=False)) == 0  # its own attempt ran no code


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"type": "pytorch"}, "@card(type='pytorch'): known card types are default, blank"),
        ({"id": "has space"}, "@card(id=...) must be 1-100 letters, digits or underscores, not 'has space'"),
        ({"scope": "run"}, "@card(scope='run'): only scope='task' exists"),
        ({"colour": "red"}, "unexpected keyword argument 'colour'"),
    ],
)
def test_card_options_are_checked_at_import(options: dict, message: str) -> None:
    from airflow_ml_provider import card, step
    from airflow_ml_provider.dsl.decorators import DecoratorError

    with pytest.raises(DecoratorError, match=re.escape(message)) as info:

        @card(**options)
        @step
        def start(self):
            pass

    assert "test_card_runs.py:" in str(info.value)


def test_a_repeated_card_id_is_refused() -> None:
    from airflow_ml_provider import card, step
    from airflow_ml_provider.dsl.decorators import DecoratorError

    with pytest.raises(DecoratorError, match=r"@card\(id='x'\) is used twice on start"):

        @card(id="x")
        @card(type="blank", id="x")
        @step
        def start(self):
            pass


CUSTOM_FLOW = """
import time
from airflow_ml_provider import FlowSpec, card, current, step
from airflow_ml_provider.cards import Markdown
from airflow_ml_provider.cards.components import MetaflowCardComponent


class Hostile(MetaflowCardComponent):
    def render(self):
        return '<b onclick="alert(1)">bold</b><script>alert(2)</script><a href="javascript:x()">a</a>'


class Slow(MetaflowCardComponent):
    def render(self):
        time.sleep(30)
        return "never shown"


class CustomCardFlow(FlowSpec):
    @card(type="blank")
    @step
    def start(self):
        current.card.append(Hostile())
        self.next(self.end)

    @card(type="blank", timeout=1)
    @step
    def end(self):
        current.card.append(Markdown("fast"))
        current.card.append(Slow())


if __name__ == "__main__":
    CustomCardFlow()
"""


def test_custom_components_are_sanitized_and_timeout_bounds_rendering(folder: Path) -> None:
    (folder / "custom_flow.py").write_text(textwrap.dedent(CUSTOM_FLOW))
    root = str(folder / "store")
    started = time.time()
    result = _run(folder / "custom_flow.py", root, "run", "--run-id-file", str(folder / "run_id"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert time.time() - started < 25  # the slow component did not hold the step for its 30 s
    assert "took longer than @card(timeout=1) seconds" in result.stdout
    set_artifact_root(root)
    run_id = (folder / "run_id").read_text().strip()
    (hostile,) = get_cards(f"CustomCardFlow/{run_id}/start/1")
    assert "<b>bold</b>" in hostile.html
    assert "<script" not in hostile.html and "onclick" not in hostile.html and "javascript:" not in hostile.html
    (slow,) = get_cards(f"CustomCardFlow/{run_id}/end/2")
    assert slow.final and "card timed out" in slow.html and "never shown" not in slow.html
