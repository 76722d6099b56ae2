"""Cards and the metric view in headless Chromium (Debian's, via Playwright) against the real api-server.

What only a browser can show: a hostile card's ``<script>`` and event handlers do not run (in its
sandboxed iframe, nor when its route is opened on its own), it loads nothing from the network,
the cards sit first in the Airflow UI's task tab, and the metric SVG's points are links to runs.
Needs ``/usr/bin/chromium`` (``scripts/install_browser.sh``); a missing one fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

P = "/ml-artifacts"


@pytest.fixture()
def page(browser, airflow_server) -> Iterator:
    """A page logged in as ``alice`` (a viewer), recording how each outside request ended."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.add_cookies([{"name": "_token", "value": airflow_server.tokens["alice"], "url": airflow_server.url}])
    tab = context.new_page()
    tab.outside = []  # (url, "failed: <reason>" | "answered") of requests leaving the api-server
    tab.on("requestfailed", lambda r: tab.outside.append((r.url, f"failed: {r.failure}")))
    tab.on("requestfinished", lambda r: tab.outside.append((r.url, "answered")))
    try:
        yield tab
    finally:
        context.close()


def _task_url(s) -> str:
    return f"{s.url}{P}/dags/CardFlow/runs/{quote(s.ids['card_run'], safe='')}/steps/train/tasks/0"


def _frame_of(page, card_hash: str):
    """The (sandboxed) frame showing one card, once its document has loaded."""
    for _ in range(100):
        for frame in page.frames:
            if f"/{card_hash}" in frame.url and not frame.url.endswith("/view"):
                return frame
        page.wait_for_timeout(100)
    raise AssertionError(f"no frame for card {card_hash}: {[f.url for f in page.frames]}")


def test_a_hostile_card_cannot_run_script_or_reach_out(page, airflow_server, shots) -> None:
    s = airflow_server
    cards = s.ids["cards"]
    page.goto(_task_url(s), wait_until="networkidle")
    frames = page.locator("iframe.cardframe")
    assert frames.count() == 3
    assert [frames.nth(i).get_attribute("sandbox") for i in range(3)] == ["", "", ""]

    hostile = page.frame_locator(f"iframe[src$='/{cards['hostile']['hash']}']")
    assert hostile.locator("#hostile").inner_text(timeout=30_000) == "hostile card body"
    frame = _frame_of(page, cards["hostile"]["hash"])
    assert frame.evaluate("() => typeof window.pwned") == "undefined"  # neither <script> nor onerror ran
    assert page.evaluate("() => typeof window.pwned") == "undefined"  # nor reached the page around it
    _no_outside_request(page)
    page.screenshot(path=str(shots / "cards_task_page.png"), full_page=True)

    # Opened on its own (no iframe around it), the card route's CSP still blocks every script.
    page.goto(f"{_task_url(s)}/cards/1/{cards['hostile']['hash']}", wait_until="networkidle")
    assert page.locator("#hostile").inner_text() == "hostile card body"
    assert page.evaluate("() => typeof window.pwned") == "undefined"
    _no_outside_request(page)


def _no_outside_request(page) -> None:
    """The card's remote image was stopped by its CSP in the browser, before any network access."""
    outside = [(u, how) for u, how in page.outside if "example.invalid" in u]
    assert outside and all(how == "failed: csp" for _u, how in outside), outside


@pytest.fixture(scope="module")
def card_airflow_run(airflow_server) -> str:
    """The Airflow DAG run whose store run has the cards (same run id), so the UI has a task tab."""
    run_id = airflow_server.ids["card_airflow_run"]
    resp = airflow_server.post_json("/api/v2/dags/CardFlow/dagRuns", {"dag_run_id": run_id, "logical_date": None})
    assert resp.status in (200, 409), resp.text
    return run_id


def test_task_tab_in_the_airflow_ui_shows_cards_first_and_opens_one_full_size(
    page, airflow_server, card_airflow_run, shots
) -> None:
    s = airflow_server
    page.goto(f"{s.url}/dags/CardFlow/runs/{quote(card_airflow_run, safe='')}/tasks/train", wait_until="networkidle")
    page.get_by_role("tab", name="Artifacts").or_(page.get_by_role("link", name="Artifacts")).first.click()
    tab = page.frame_locator("iframe").first
    tab.locator("iframe.cardframe").first.wait_for(timeout=30_000)
    assert tab.locator("iframe.cardframe").count() == 3
    plain = tab.frame_locator("iframe.cardframe").first
    assert plain.locator("#acc").inner_text(timeout=30_000) == "accuracy 0.9"
    cards_y = tab.locator("h2", has_text="Cards").bounding_box()["y"]
    artifacts_y = tab.locator("h2", has_text="Artifacts").bounding_box()["y"]
    assert cards_y < artifacts_y
    assert tab.locator("[data-card-running]").inner_text().startswith("still running")
    page.screenshot(path=str(shots / "cards_task_tab.png"))

    tab.locator("a", has_text="open full size").first.click()
    full = tab.locator("iframe.cardfull")
    full.wait_for(timeout=30_000)
    assert full.get_attribute("sandbox") == ""
    assert tab.frame_locator("iframe.cardfull").locator("h1").inner_text(timeout=30_000) == "Model report"
    assert full.bounding_box()["height"] > 300
    page.screenshot(path=str(shots / "card_full_size.png"))


def test_metric_across_runs_svg_points_link_to_their_runs(page, airflow_server, shots) -> None:
    s = airflow_server
    page.goto(f"{s.url}{P}/dags/CardFlow/metrics", wait_until="networkidle")
    page.locator("a.metric-choice", has_text="accuracy").last.click()  # steps are listed end, train
    page.wait_for_url("**step=train**")
    points = page.locator("svg a.point-link circle.point")
    assert points.count() == 5
    assert [points.nth(i).get_attribute("data-run") for i in range(5)] == s.ids["card_runs"]
    ys = [float(points.nth(i).get_attribute("cy")) for i in range(5)]
    assert ys[0] > ys[3] > ys[4]  # 0.61 low on the plot, 0.9 at the top
    assert page.locator("svg polyline.line").count() == 1
    assert "2 run(s) skipped" in page.locator("body").inner_text()
    page.screenshot(path=str(shots / "metric_across_runs.png"), full_page=True)

    points.nth(3).click()  # the circle inside the link
    page.wait_for_url(f"**/runs/{quote(s.ids['card_runs'][3], safe='')}")
    assert s.ids["card_runs"][3] in page.locator("h1").inner_text()
