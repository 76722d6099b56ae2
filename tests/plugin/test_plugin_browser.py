"""The Artifacts views inside the real Airflow UI, in headless Chromium (Debian's, via Playwright).

Needs ``/usr/bin/chromium`` (``scripts/install_browser.sh``) and the ``playwright`` package; a
missing one fails the test. Screenshots go to ``$ML_PLUGIN_SCREENSHOTS`` (default: the pytest
base temp folder) so a person can look at them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from store_fixtures import RUN_A

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def airflow_run(airflow_server) -> str:
    """Create the Airflow DAG run whose artifacts the store fixture holds (same run id)."""
    resp = airflow_server.post_json("/api/v2/dags/TableFlow/dagRuns", {"dag_run_id": RUN_A, "logical_date": None})
    assert resp.status in (200, 409), resp.text
    return RUN_A


def _page(browser, server, theme: str):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, color_scheme=theme)
    context.add_cookies([{"name": "_token", "value": server.tokens["admin"], "url": server.url}])
    context.add_init_script(f"try {{ localStorage.setItem('theme', '{theme}'); }} catch (e) {{}}")
    return context, context.new_page()


def _artifacts_frame(page):
    page.get_by_role("tab", name="Artifacts").or_(page.get_by_role("link", name="Artifacts")).first.click()
    page.wait_for_selector("iframe", timeout=30_000)
    frame = page.frame_locator("iframe").first
    frame.locator("table.ptable").first.wait_for(timeout=30_000)
    return frame


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_run_tab_shows_artifacts(browser, airflow_server, airflow_run, shots, theme):
    s = airflow_server
    context, page = _page(browser, s, theme)
    try:
        page.goto(f"{s.url}/dags/TableFlow/runs/{quote(airflow_run, safe='')}", wait_until="networkidle")
        frame = _artifacts_frame(page)
        table = frame.locator("table.ptable").first
        assert "cat" in table.inner_text() and "float64" in table.inner_text()
        body = frame.locator("body")
        assert "weights" in body.inner_text() and "trained on cats and dogs" in body.inner_text()
        assert frame.locator("img.imgprev").count() >= 1
        background = body.evaluate("b => getComputedStyle(b).backgroundColor")
        airflow_bg = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--chakra-colors-bg')")
        # the view takes its colours from the surrounding Airflow theme
        assert background == ("rgb(255, 255, 255)" if theme == "light" else airflow_bg.strip()), background
        page.wait_for_timeout(300)
        page.screenshot(path=str(shots / f"run_tab_{theme}.png"))
        print(f"\nscreenshot: {shots / f'run_tab_{theme}.png'}")
        frame.locator("summary", has_text="DataFrame").first.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(200)
        page.screenshot(path=str(shots / f"run_tab_{theme}_table.png"))
    finally:
        context.close()


def test_task_instance_tab_and_nav_page(browser, airflow_server, airflow_run, shots):
    s = airflow_server
    context, page = _page(browser, s, "light")
    try:
        page.goto(f"{s.url}/dags/TableFlow/runs/{quote(airflow_run, safe='')}/tasks/train", wait_until="networkidle")
        frame = _artifacts_frame(page)
        assert "CUDA out of memory" in frame.locator("body").inner_text()
        page.screenshot(path=str(shots / "task_tab_light.png"))
        page.goto(f"{s.url}/plugin/ml-flows", wait_until="networkidle")
        frame = page.frame_locator("iframe").first
        frame.locator("table.runs").first.wait_for(timeout=30_000)
        text = frame.locator("body").inner_text()
        assert "TableFlow" in text and "BigFlow" in text
        page.screenshot(path=str(shots / "nav_light.png"))
    finally:
        context.close()


@pytest.fixture(scope="module")
def hello_run(airflow_server) -> str:
    """Run the real example flow (compiler + runtime + store) with ``airflow dags test``."""
    s = airflow_server
    shutil.copy(REPO / "dags_examples" / "hello_flow.py", s.home / "dags")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "dags", "test", "HelloFlow"],
        env=s.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = s.get("/api/v2/dags/HelloFlow/dagRuns").json()["dag_runs"]
    assert runs and runs[0]["state"] == "success", runs
    return runs[0]["dag_run_id"]


def test_example_flow_end_to_end(browser, airflow_server, hello_run, shots):
    """A flow run by Airflow shows its artifacts in the tab; the copied client line loads one."""
    s = airflow_server
    context, page = _page(browser, s, "light")
    try:
        page.goto(f"{s.url}/dags/HelloFlow/runs/{quote(hello_run, safe='')}", wait_until="networkidle")
        page.get_by_role("link", name="Artifacts").first.click()
        frame = page.frame_locator("iframe").first
        frame.locator("summary", has_text="letters").first.wait_for(timeout=30_000)
        text = frame.locator("body").inner_text()
        assert "hello, world" in text and "greeting" in text and "10" in text
        page.screenshot(path=str(shots / "hello_flow_run_tab.png"))
        line = frame.locator("button[data-copy*=\"['message']\"]").first.get_attribute("data-copy")
    finally:
        context.close()
    import_line, expression = line.split("; ", 1)
    proc = subprocess.run(
        [sys.executable, "-c", f"{import_line}\nprint({expression})"],
        env=s.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "hello, world"
