"""Issue 20 end to end: cards written by a REAL flow run (the step runtime, not fixtures) in the
Airflow UI, in headless Chromium, against the real api-server of ``conftest.py``.

``tests/flows/card_flow.py`` (renamed ``RealCardFlow``, so the fixture store's ``CardFlow`` stays as
it is) runs under ``airflow dags test`` in the server's own Airflow home and artifact root, with a
hostile ``note`` parameter that the report card appends as Markdown (and the default card of
``start`` shows as a parameter). Then, in the browser: the framed cards (sandboxed, no scripts), the
Markdown heading, table cells, the matplotlib PNG, the Vega-Lite chart as an SVG image, the progress
bar's final value, non-blank screenshots, the hostile markup inert; the card routes answer 401
without a user and 403 to ``bob`` (denied ``RealCardFlow`` by ``ml_test_auth``); and the metric
across five real ``python flow.py run`` runs of ``tests/flows/card_metric_flow.py``.
Needs ``/usr/bin/chromium`` (``scripts/install_browser.sh``); a missing one fails the test.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]
CARD_FLOW = ROOT / "tests" / "flows" / "card_flow.py"
METRIC_FLOW = ROOT / "tests" / "flows" / "card_metric_flow.py"
DAG = "RealCardFlow"
P = "/ml-artifacts"
NOTE = (
    "## Hostile note\n\n"
    "<script>window.pwned = 'script'; parent.pwned = 'parent';</script>\n\n"
    "<img src=x onerror=\"window.pwned = 'onerror'\"> and "
    "[a link](javascript:window.pwned='link') and <b onmouseover=\"window.pwned = 'hover'\">bold</b>"
)
XS = [3.0, 7.0, 5.0, 9.0, 1.0]  # the metric runs' parameter: score = x / 10


def _env(server: Any) -> dict[str, str]:
    return {
        **server.env,
        "AIRFLOW__ML_PROVIDER__EXECUTION_MODE": "local",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


@pytest.fixture(scope="module")
def real_run(airflow_server) -> dict[str, Any]:
    """``airflow dags test RealCardFlow`` in the server's home; the report and start tasks' cards."""
    s = airflow_server
    source = CARD_FLOW.read_text()
    renames = [('@flow(dag_id="CardFlow")', f'@flow(dag_id="{DAG}")'),
               ("class CardFlow(FlowSpec)", f"class {DAG}(FlowSpec)"), ("    CardFlow()", f"    {DAG}()")]  # fmt: skip
    for old, new in renames:
        assert old in source, old
        source = source.replace(old, new)
    (s.home / "dags" / "real_card_flow.py").write_text(source)
    done = _dags_test(s, DAG, {"note": NOTE})
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    ((airflow_run_id, _store_run),) = _store_runs(s, DAG).items()
    out: dict[str, Any] = {"airflow_run_id": airflow_run_id}
    for step in ("start", "report"):
        page = s.get(f"{P}/dags/{DAG}/runs/{quote(airflow_run_id, safe='')}/tasks/{step}")
        assert page.status == 200, page.text[:2000]
        task_id = _task_id(s, airflow_run_id, step)
        listing = s.get(f"{P}/api/dags/{DAG}/runs/{quote(airflow_run_id, safe='')}/steps/{step}/tasks/{task_id}/cards")
        assert listing.status == 200, listing.text
        out[step] = {"task_id": task_id, "cards": {c["id"] or c["type"]: c for c in listing.json()["cards"]}}
    assert list(out["report"]["cards"]) == ["summary", "report"]
    assert all(c["final"] for step in ("start", "report") for c in out[step]["cards"].values())
    return out


def _dags_test(s: Any, dag_id: str, conf: dict[str, Any]) -> subprocess.CompletedProcess:
    args = [str(Path(sys.executable).parent / "airflow"), "dags", "test", dag_id, "-c", json.dumps(conf)]
    for _ in range(3):  # SQLite is shared with the running api-server: retry a lost write race
        done = subprocess.run(args, env=_env(s), capture_output=True, text=True, timeout=600)
        if "database is locked" not in done.stderr:
            break
        time.sleep(2)
    return done


def _store_runs(s: Any, flow: str) -> dict[str, str]:
    """``{Airflow run id: store run id}`` of a flow in the server's store."""
    records = [(p, json.loads(p.read_text())) for p in (s.home / "ml_artifacts" / flow / "runs").glob("*/run.json")]
    return {r["airflow_run_id"]: p.parent.name for p, r in records}


def _task_id(s: Any, airflow_run_id: str, step: str) -> str:
    run = s.get(f"{P}/api/dags/{DAG}/runs/{quote(airflow_run_id, safe='')}")
    assert run.status == 200, run.text
    (found,) = [x for x in run.json()["steps"] if x["step"] == step]
    (task,) = found["tasks"]
    return str(task["task_id"])


@pytest.fixture()
def page(browser, airflow_server) -> Iterator:
    """A page logged in as ``alice`` (a viewer)."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.add_cookies([{"name": "_token", "value": airflow_server.tokens["alice"], "url": airflow_server.url}])
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


def _not_blank(png: bytes, min_stddev: float = 10.0) -> float:
    """The screenshot's grey-level standard deviation (a blank or one-colour picture is about 0)."""
    from PIL import Image, ImageStat

    stddev = ImageStat.Stat(Image.open(io.BytesIO(png)).convert("L")).stddev[0]
    assert stddev > min_stddev, f"screenshot looks blank (stddev {stddev:.1f})"
    return stddev


def _frame(page, card: dict[str, Any]):
    """The frame showing one card, once its document has loaded."""
    for _ in range(100):
        for frame in page.frames:
            if frame.url.endswith(card["url"]):
                return frame
        page.wait_for_timeout(100)
    raise AssertionError(f"no frame for {card['url']}: {[f.url for f in page.frames]}")


def _inert(page, frame) -> None:
    """The hostile note ran nothing, left no element that could, and reached neither document."""
    assert frame.evaluate("() => typeof window.pwned") == "undefined"
    assert page.evaluate("() => typeof window.pwned") == "undefined"
    assert frame.locator("script").count() == 0
    assert frame.evaluate("() => document.querySelectorAll('[onerror], [onmouseover], [src=x]').length") == 0
    assert frame.evaluate("() => [...document.links].filter(a => !/^(https?|mailto):/.test(a.href)).length") == 0


def test_a_real_flows_cards_in_the_browser(page, airflow_server, real_run, shots) -> None:
    s = airflow_server
    run = quote(real_run["airflow_run_id"], safe="")
    report, summary = real_run["report"]["cards"]["report"], real_run["report"]["cards"]["summary"]
    page.goto(f"{s.url}{P}/dags/{DAG}/runs/{run}/tasks/report", wait_until="networkidle")
    frames = page.locator("iframe.cardframe")
    assert frames.count() == 2
    assert [frames.nth(i).get_attribute("sandbox") for i in range(2)] == ["", ""]  # no allow-scripts
    assert [frames.nth(i).get_attribute("src") for i in range(2)] == [summary["url"], report["url"]]

    frame = _frame(page, report)
    assert frame.locator("h1").inner_text(timeout=30_000) == "Report"
    body = frame.locator("body").inner_text()
    assert "Scores of CardFlow, alpha = 0.5" in body
    assert [c.strip() for c in frame.locator("td").all_inner_texts()] == [
        "0", "0.1", "ok", "1", "0.4", "ok", "2", "0.9", "ok"
    ]  # fmt: skip
    assert frame.locator("td em").count() == 3  # the Markdown cells, rendered
    assert frame.locator("progress").get_attribute("value") == "3"
    assert frame.locator("progress").get_attribute("max") == "3"
    assert "3/3 scores" in body

    png = frame.locator("img.image")
    assert png.get_attribute("src").startswith("data:image/png;base64,")
    chart = frame.locator("img.chart")
    assert chart.get_attribute("src").startswith("data:image/svg+xml;base64,")
    assert chart.get_attribute("alt") == "scores chart"
    for img in (png, chart):  # decoded and drawn under the card's CSP (img-src data:)
        img.scroll_into_view_if_needed()
        assert img.evaluate("i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0")
    _not_blank(chart.screenshot(path=str(shots / "real_card_chart.png")))
    _not_blank(png.screenshot(path=str(shots / "real_card_matplotlib.png")))

    # the hostile note: a heading, the raw HTML shown as text, nothing that runs
    assert frame.locator("h2").inner_text() == "Hostile note"
    assert "<script>window.pwned = 'script'; parent.pwned = 'parent';</script>" in body
    assert "<img src=x onerror=" in body and "bold" in body
    _inert(page, frame)

    _not_blank(frames.nth(1).screenshot(path=str(shots / "real_card_report_frame.png")))
    _not_blank(page.screenshot(path=str(shots / "real_card_task_page.png"), full_page=True))

    summary_frame = _frame(page, summary)
    assert "best" in summary_frame.locator("body").inner_text(timeout=30_000)
    assert "{'best': 0.9}" in summary_frame.locator("body").inner_text()

    # the default card of start shows the hostile parameter as text
    start = real_run["start"]["cards"]["default"]
    page.goto(f"{s.url}{P}/dags/{DAG}/runs/{run}/tasks/start", wait_until="networkidle")
    start_frame = _frame(page, start)
    text = start_frame.locator("body").inner_text(timeout=30_000)
    assert "<script>window.pwned = 'script'" in text and "0.5" in text and "scores" in text
    _inert(page, start_frame)
    _not_blank(page.locator("iframe.cardframe").first.screenshot(path=str(shots / "real_card_default.png")))

    # opened on its own (no sandboxed iframe around it), the card still runs nothing
    page.goto(f"{s.url}{report['url']}", wait_until="networkidle")
    assert page.locator("h1").inner_text() == "Report"
    assert page.evaluate("() => typeof window.pwned") == "undefined"
    assert "<script>window.pwned = 'script'" in page.locator("body").inner_text()
    _not_blank(page.screenshot(path=str(shots / "real_card_report_alone.png"), full_page=True))


def test_the_real_cards_in_the_airflow_ui_task_tab(page, airflow_server, real_run, shots) -> None:
    s = airflow_server
    page.goto(f"{s.url}/dags/{DAG}/runs/{quote(real_run['airflow_run_id'], safe='')}/tasks/report",
              wait_until="networkidle")  # fmt: skip
    page.get_by_role("tab", name="Artifacts").or_(page.get_by_role("link", name="Artifacts")).first.click()
    tab = page.frame_locator("iframe").first
    tab.locator("iframe.cardframe").first.wait_for(timeout=30_000)
    assert tab.locator("iframe.cardframe").count() == 2
    card = tab.frame_locator("iframe.cardframe").nth(1)
    assert card.locator("h1").inner_text(timeout=30_000) == "Report"
    assert card.locator("img.chart").get_attribute("src").startswith("data:image/svg+xml;base64,")
    _not_blank(page.screenshot(path=str(shots / "real_card_airflow_tab.png")))


def test_card_routes_of_the_real_task_need_a_user_with_access_to_the_dag(airflow_server, real_run) -> None:
    s = airflow_server
    run = quote(real_run["airflow_run_id"], safe="")
    report = real_run["report"]["cards"]["report"]
    task = f"{P}/dags/{DAG}/runs/{run}/steps/report/tasks/{real_run['report']['task_id']}"
    urls = [report["url"], report["view_url"], f"{P}/api{task.removeprefix(P)}/cards", task,
            f"{P}/dags/{DAG}/runs/{run}/tasks/report"]  # fmt: skip
    for url in urls:
        assert s.get(url, "alice").status == 200, url
        assert s.get(url, None).status == 401, url
        assert s.get(url, "bob").status == 403, url
        assert s.get(url, "bob", cookie=True).status == 403, url
    html = s.get(report["url"], "alice")
    assert "<h1>Report</h1>" in html.text and "default-src 'none'" in html.headers["content-security-policy"]
    for who in (None, "bob"):
        denied = s.get(report["url"], who)
        assert "Report" not in denied.text and "data:image" not in denied.text


# What ``airflow dags test`` does (``dag_command.dag_test``), once per conf, in one process: the five
# runs pay Airflow's start-up once.
DAGS_TEST_LOOP = """
import json, sys
from airflow.utils.cli import get_bagged_dag
dag = get_bagged_dag(bundle_names=None, dag_id=sys.argv[1], dagfile_path=None)
for conf in json.loads(sys.argv[2]):
    run = dag.test(run_conf=conf)
    print("RUN", run.run_id, run.state, flush=True)
    assert run.state == "success", run.state
"""


@pytest.fixture(scope="module")
def metric_runs(airflow_server) -> list[str]:
    """Five real Airflow runs of ``CardMetricFlow`` (``dag.test`` as ``airflow dags test`` calls it)
    in the server's home and store (runs of ``python flow.py run`` belong to no DAG, so the UI does
    not list them); their store run ids, oldest first."""
    s = airflow_server
    shutil.copy(METRIC_FLOW, s.home / "dags" / METRIC_FLOW.name)
    confs = json.dumps([{"x": x} for x in XS])
    args = [sys.executable, "-c", DAGS_TEST_LOOP, "CardMetricFlow", confs]
    done = subprocess.run(args, env=_env(s), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    airflow_ids = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("RUN ")]
    assert len(airflow_ids) == 5, done.stdout[-3000:]
    by_airflow_id = _store_runs(s, "CardMetricFlow")
    return [by_airflow_id[r] for r in airflow_ids]


def test_metric_across_five_real_runs(page, airflow_server, metric_runs, shots) -> None:
    s = airflow_server
    api = s.get(f"{P}/api/dags/CardMetricFlow/metrics?step=start&artifact=score", "alice")
    assert api.status == 200, api.text
    page.goto(f"{s.url}{P}/dags/CardMetricFlow/metrics", wait_until="networkidle")
    page.locator("a.metric-choice[href*='step=start']", has_text="score").click()
    page.wait_for_url("**step=start&artifact=score**")
    points = page.locator("svg a.point-link circle.point")
    assert points.count() == 5
    assert sorted(points.nth(i).get_attribute("data-run") for i in range(5)) == sorted(metric_runs)
    by_run = {points.nth(i).get_attribute("data-run"): float(points.nth(i).get_attribute("cy")) for i in range(5)}
    ys = [by_run[r] for r in metric_runs]  # SVG y grows downwards: a higher score is a smaller cy
    assert ys[3] < ys[1] < ys[2] < ys[0] < ys[4]
    links = page.locator("svg a.point-link")
    for i in range(5):
        run = points.nth(i).get_attribute("data-run")
        href = links.nth(i).get_attribute("href") or links.nth(i).get_attribute("xlink:href")
        assert href.endswith(f"/dags/CardMetricFlow/runs/{quote(run, safe='')}"), href
    _not_blank(page.locator("svg").first.screenshot(path=str(shots / "real_metric_svg.png")))
    _not_blank(page.screenshot(path=str(shots / "real_metric_across_runs.png"), full_page=True))

    target = metric_runs[3]
    page.locator(f"svg a.point-link:has(circle[data-run='{target}'])").click()
    page.wait_for_url(f"**/runs/{quote(target, safe='')}")
    assert target in page.locator("h1").inner_text()
    for who, status in ((None, 401), ("alice", 200)):
        assert s.get(f"{P}/dags/CardMetricFlow/metrics?step=start&artifact=score", who).status == status
