"""Cards and the metric-across-runs view against the real api-server of ``conftest.py``.

Cards come from ``card_fixtures.py`` (written with ``card_store.write_card``); the browser side
(sandboxing of hostile cards, SVG points in the DOM) is in ``test_cards_browser.py``.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from card_fixtures import PLAIN_CARD

P = "/ml-artifacts"
REQUIRED_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _task(ids: dict, run: str | None = None, step: str = "train", task: str = "0", dag: str = "CardFlow") -> str:
    return f"{P}/dags/{dag}/runs/{quote(run or ids['card_run'], safe='')}/steps/{step}/tasks/{task}"


def _card(ids: dict, name: str, view: bool = False) -> str:
    record = ids["cards"][name]
    step = "end" if name == "rotten" else "train"
    return f"{_task(ids, step=step)}/cards/{record['attempt']}/{record['hash']}" + ("/view" if view else "")


def _denied_card(ids: dict, view: bool = False) -> str:
    record = ids["denied_card"]
    base = _task(ids, ids["denied_run"], "start", dag="DeniedFlow")
    return f"{base}/cards/{record['attempt']}/{record['hash']}" + ("/view" if view else "")


def _metrics(query: str = "?step=train&artifact=accuracy", api: bool = False) -> str:
    return f"{P}{'/api' if api else ''}/dags/CardFlow/metrics{query}"


def test_card_route_serves_the_stored_html_under_a_strict_csp(airflow_server) -> None:
    s = airflow_server
    resp = s.get(_card(s.ids, "plain"), "alice")
    assert resp.status == 200
    assert resp.text == PLAIN_CARD
    assert resp.headers["content-type"].startswith("text/html")
    csp = resp.headers["content-security-policy"]
    assert csp.startswith(REQUIRED_CSP) and "script-src" not in csp and "sandbox" in csp
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["cache-control"] == "no-store"


def test_a_rotten_card_is_a_409_never_other_bytes(airflow_server) -> None:
    s = airflow_server
    resp = s.get(_card(s.ids, "rotten"), "alice")
    assert resp.status == 409
    assert "REPORT" not in resp.text and "rotten report" not in resp.text
    assert resp.headers["content-security-policy"].startswith(REQUIRED_CSP)
    page = s.get(_task(s.ids, step="end"), "alice")
    assert page.status == 200 and f"src='{_card(s.ids, 'rotten')}'" in page.text


def test_task_page_shows_the_latest_attempts_cards_first(airflow_server) -> None:
    s = airflow_server
    ids = s.ids
    for url in (_task(ids), f"{P}/dags/CardFlow/runs/{quote(ids['card_airflow_run'], safe='')}/tasks/train"):
        resp = s.get(url, "alice")
        assert resp.status == 200, url
        assert "frame-src 'self'" in resp.headers["content-security-policy"]
        frames = re.findall(r"<iframe [^>]*>", resp.text)
        assert [re.search(r"src='([^']*)'", f).group(1) for f in frames] == [
            _card(ids, "plain"),
            _card(ids, "hostile"),
            _card(ids, "progress"),
        ]
        assert all(" sandbox='' " in f for f in frames)
        assert ids["cards"]["old"]["hash"] not in resp.text  # attempt 0's card is not the latest
        text = resp.text
        assert text.index("<h2>Cards") < text.index("<h2>Attempts") < text.index("<h2>Artifacts")
        assert text.count("still running") == 1  # the progress card only
        assert all(f"href='{_card(ids, n, view=True)}'" in text for n in ("plain", "hostile", "progress"))


def test_a_task_without_cards_has_no_card_section(airflow_server) -> None:
    resp = airflow_server.get(_task(airflow_server.ids, step="start"), "alice")
    assert resp.status == 200 and "<h2>Cards" not in resp.text and "<iframe" not in resp.text


def test_run_page_links_every_card(airflow_server) -> None:
    s = airflow_server
    resp = s.get(f"{P}/dags/CardFlow/runs/{quote(s.ids['card_run'], safe='')}", "alice")
    assert resp.status == 200
    links = re.findall(r"<a class=cardlink href='([^']*)'", resp.text)
    assert links == [_card(s.ids, n, view=True) for n in ("plain", "hostile", "progress", "rotten")]
    assert "metrics across runs" in resp.text


def test_full_size_view_frames_the_card_and_reloads_only_while_it_runs(airflow_server) -> None:
    s = airflow_server
    final = s.get(_card(s.ids, "plain", view=True), "alice")
    assert final.status == 200
    assert f"src='{_card(s.ids, 'plain')}'" in final.text and " sandbox='' " in final.text
    assert "http-equiv=refresh" not in final.text and "still running" not in final.text
    running = s.get(_card(s.ids, "progress", view=True), "alice")
    assert running.status == 200
    assert "<meta http-equiv=refresh content='5'>" in running.text
    assert "still running" in running.text and "blank: progress" in running.text
    assert "frame-src 'self'" in running.headers["content-security-policy"]


def test_cards_api_lists_the_latest_attempts_cards(airflow_server) -> None:
    s = airflow_server
    resp = s.get(f"{P}/api{_task(s.ids)[len(P) :]}/cards", "alice")
    assert resp.status == 200
    cards = resp.json()["cards"]
    assert [(c["type"], c["id"], c["final"]) for c in cards] == [
        ("default", None, True),
        ("default", "hostile", True),
        ("blank", "progress", False),
    ]
    assert cards[0]["url"] == _card(s.ids, "plain") and cards[2]["view_url"] == _card(s.ids, "progress", view=True)


def test_metric_across_runs_plots_the_numeric_runs_and_says_which_were_skipped(airflow_server) -> None:
    s = airflow_server
    resp = s.get(_metrics(), "alice")
    assert resp.status == 200
    svg = re.search(r"<svg .*?</svg>", resp.text, re.S).group(0)
    points = re.findall(r"<a class='point-link' href='([^']*)' target='_self'><circle class='point' [^>]*"
                        r"data-run='([^']*)' data-value='([^']*)'", svg)  # fmt: skip
    runs = s.ids["card_runs"]  # oldest first, as plotted left to right
    assert [p[1] for p in points] == runs
    assert [p[0] for p in points] == [f"{P}/dags/CardFlow/runs/{quote(r, safe='')}" for r in runs]
    assert [float(p[2]) for p in points] == [0.61, 0.72, 0.68, 0.85, 0.9]
    assert "<polyline class='line'" in svg
    assert not re.search(r"=[^'\s>]+/>", svg)  # no unquoted value before "/>" (it would eat the slash)
    assert "2 run(s) skipped" in resp.text
    assert f"{s.ids['card_text_run']}</a>: not a plain number (str)" in resp.text
    assert f"{s.ids['card_failed_run']}</a>: train has no successful attempt" in resp.text

    api = s.get(_metrics("?step=train&artifact=accuracy&n=4", api=True), "alice").json()
    assert [p["run_id"] for p in api["points"]] == runs[-2:]  # the newest 4 runs, 2 of them numeric
    assert len(api["skipped"]) == 2
    assert s.get(_metrics("?step=train&artifact=accuracy&n=100000", api=True), "alice").status == 200


def test_metric_values_come_from_previews_and_the_rest_is_skipped_with_a_reason(airflow_server) -> None:
    s = airflow_server
    epochs = s.get(_metrics("?step=train&artifact=epochs", api=True), "alice").json()
    assert [p["value"] for p in epochs["points"]] == [1.0, 2.0, 3.0, 4.0, 5.0]  # np.int64 previews
    note = s.get(f"{P}/dags/TableFlow/metrics?step=train&artifact=note", "alice")
    assert note.status == 200 and "<svg" not in note.text
    assert "No run has a plain-number value" in note.text and note.text.count("not a plain number (str)") == 2
    weights = s.get(f"{P}/api/dags/TableFlow/metrics?step=train&artifact=weights", "alice").json()
    assert weights["points"] == []
    assert {r["reason"] for r in weights["skipped"]} == {"not a plain number (numpy.ndarray)"}
    table = s.get(f"{P}/api/dags/TableFlow/metrics?step=train&artifact=accuracy", "alice").json()
    assert [p["value"] for p in table["points"]] == [0.9375, 0.9375]
    big = s.get(f"{P}/api/dags/BigFlow/metrics?step=process&artifact=result", "alice").json()
    assert big["points"] == [] and big["skipped"][0]["reason"] == "process is a foreach step (1000 tasks)"


def test_metric_page_offers_the_numeric_artifacts(airflow_server) -> None:
    resp = airflow_server.get(_metrics(""), "alice")
    assert resp.status == 200 and "<svg" not in resp.text
    for name in ("accuracy", "epochs"):
        assert f"href='/ml-artifacts/dags/CardFlow/metrics?step=train&amp;artifact={name}&amp;n=30'" in resp.text
    table = airflow_server.get(f"{P}/dags/TableFlow", "alice")
    assert "href='/ml-artifacts/dags/TableFlow/metrics'" in table.text


def test_card_and_metric_routes_need_a_user_and_dag_access(airflow_server) -> None:
    s = airflow_server
    guarded = [
        _card(s.ids, "plain"),
        _card(s.ids, "plain", view=True),
        _metrics(),
        _metrics(api=True),
        f"{P}/api{_task(s.ids)[len(P) :]}/cards",
    ]
    for url in guarded:
        assert s.get(url, None).status == 401, url
        assert s.get(url, "bob").status == 200, url  # bob may read CardFlow
    denied = [
        _denied_card(s.ids),
        _denied_card(s.ids, view=True),
        f"{P}/dags/DeniedFlow/metrics?step=start&artifact=secret",
        f"{P}/api/dags/DeniedFlow/metrics?step=start&artifact=secret",
    ]
    for url in denied:
        assert s.get(url, "alice").status == 200, url
        resp = s.get(url, "bob")
        assert resp.status == 403, url
        assert "s3cr3t" not in resp.text and "Model report" not in resp.text


@pytest.mark.parametrize(
    "path",
    [
        "/cards/1/ZZZZZZZZZZZZZZZZ",  # not hex
        "/cards/1/7c3c6d07658383e",  # 15 digits
        "/cards/1/..%2F..%2F..%2Frun.json",
        "/cards/%C2%B2/{plain}",  # a digit to int(), not to the route
        "/cards/01/{plain}",
        "/cards/7/{plain}",  # no such attempt
        "/cards/0/{plain}",  # the slot hash names attempt 1's card
        "/cards/1/{old}",  # attempt 0's card asked as attempt 1's
        "/cards/1/{plain}/view/x",
    ],
)
def test_card_ids_are_validated(airflow_server, path: str) -> None:
    s = airflow_server
    cards = s.ids["cards"]
    path = path.format(plain=cards["plain"]["hash"], old=cards["old"]["hash"])
    resp = s.get(_task(s.ids) + path, "alice")
    assert resp.status == 404, (path, resp.status)
    assert "Model report" not in resp.text


def test_card_routes_404_outside_their_task_or_dag(airflow_server) -> None:
    s = airflow_server
    plain = s.ids["cards"]["plain"]
    tail = f"/cards/{plain['attempt']}/{plain['hash']}"
    for url in (
        _task(s.ids, step="..%2F..") + tail,
        _task(s.ids, task="..%2F0") + tail,
        _task(s.ids, step="end") + tail,  # another task of the run
        _task(s.ids, dag="TableFlow") + tail,  # the run belongs to CardFlow
        _task(s.ids, run="..%2F..%2FDeniedFlow") + tail,
    ):
        resp = s.get(url, "alice")
        assert resp.status == 404, url
        assert "Model report" not in resp.text
    for query in ("?step=..%2F..&artifact=accuracy", "?step=train&artifact=..%2Fx", "?step=train&artifact=a-b"):
        assert s.get(_metrics(query), "alice").status == 404, query
    assert s.get(_metrics("?step=train&artifact=accuracy&n=x"), "alice").status == 422
