"""Every plugin route against a real api-server: content, 401, 403, 404 and escaping."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import pytest
from store_fixtures import BIG_RUN, BIG_TASKS, RUN_A, XSS, XSS_IMG

P = "/ml-artifacts"


def routes(ids: dict, dag: str, run: str, key: str) -> list[str]:
    """One URL per route for a DAG (the HTML views first, then the JSON API)."""
    r = f"dags/{dag}/runs/{run}"
    return [
        f"{P}/dags/{dag}",
        f"{P}/{r}",
        f"{P}/{r}/steps/start",
        f"{P}/{r}/steps/start/tasks/0",
        f"{P}/{r}/tasks/start?map_index=-1",
        f"{P}/{r}/steps/start/tasks/0/blobs/{key}",
        f"{P}/dags/{dag}/compare?a={run}&b={run}",
        f"{P}/api/dags/{dag}/runs",
        f"{P}/api/{r}",
        f"{P}/api/{r}/steps/start",
        f"{P}/api/{r}/steps/start/tasks/0",
        f"{P}/api/dags/{dag}/compare?a={run}&b={run}",
    ]


def _key(server, dag: str, run: str, name: str, step: str = "start") -> str:
    task = server.get(f"{P}/api/dags/{dag}/runs/{run}/steps/{step}/tasks/0").json()
    return task["artifacts"][name]["key"]


def test_test_auth_manager_denies_one_dag_to_bob(airflow_server):
    s = airflow_server
    assert s.get("/api/v2/dags/DeniedFlow", "bob").status == 403
    assert s.get("/api/v2/dags/TableFlow", "bob").status == 200
    assert s.get("/api/v2/dags/DeniedFlow", "alice").status == 200


def test_plugin_registered_with_views(airflow_server):
    plugins = airflow_server.get("/api/v2/plugins").json()["plugins"]
    mine = next(p for p in plugins if p["name"] == "ml_artifacts")
    views = {v["destination"]: v for v in mine["external_views"]}
    assert set(views) == {"dag_run", "task_instance", "nav"}
    assert all(v["url_route"] for v in views.values())
    assert views["dag_run"]["href"] == "/ml-artifacts/dags/{DAG_ID}/runs/{RUN_ID}"


def test_every_route_needs_credentials(airflow_server):
    s = airflow_server
    key = _key(s, "TableFlow", s.ids["run_a"], "alpha")
    urls = [f"{P}/", f"{P}/api/flows", *routes(s.ids, "TableFlow", s.ids["run_a"], key)]
    for url in urls:
        assert s.get(url, None).status == 401, url
        assert s.get(url, "alice").status == 200, url
        assert s.get(url, "alice", cookie=True).status == 200, url  # the UI's _token cookie


def test_every_route_forbids_a_user_without_dag_access(airflow_server):
    s = airflow_server
    run = s.ids["denied_run"]
    key = _key(s, "DeniedFlow", run, "secret")
    for url in routes(s.ids, "DeniedFlow", run, key):
        resp = s.get(url, "bob")
        assert resp.status == 403, url
        assert b"s3cr3t" not in resp.body
        assert s.get(url, "alice").status == 200, url


def test_listing_shows_only_readable_dags_newest_first(airflow_server):
    s = airflow_server
    admin = s.get(f"{P}/").text
    for flow in ("TableFlow", "BigFlow", "RenamedFlow", "ScanFlow", "DeniedFlow", "HostileFlow"):
        assert f">{flow}</a>" in admin
    assert "(DAG renamed_dag)" in admin
    assert admin.index("manual__2026-11-27T11:00:00+00:00_bbbb") < admin.index(RUN_A)  # newest first
    bob = s.get(f"{P}/", "bob").text
    assert "DeniedFlow" not in bob and "secret" not in bob and "TableFlow" in bob
    flows = {f["flow_name"] for f in s.get(f"{P}/api/flows", "bob").json()["flows"]}
    assert "DeniedFlow" not in flows and "TableFlow" in flows
    runs = s.get(f"{P}/api/flows").json()["flows"]
    table = next(f for f in runs if f["flow_name"] == "TableFlow")
    assert [r["airflow_run_id"] for r in table["runs"]][:2] == [
        "manual__2026-11-27T11:00:00+00:00_bbbb",
        RUN_A,
    ]
    assert table["runs"][0]["parameters"] == {"alpha": 0.5} and table["runs"][0]["duration_s"] == 42.0


def test_listing_filters_by_tag(airflow_server):
    s = airflow_server
    page = s.get(f"{P}/?tag=team:scan").text
    assert ">ScanFlow</a>" in page and ">TableFlow</a>" not in page
    assert [f["flow_name"] for f in s.get(f"{P}/api/flows?tag=team%3Ascan").json()["flows"]] == ["ScanFlow"]
    runs = s.get(f"{P}/api/dags/TableFlow/runs?tag=run_type:manual").json()
    assert runs["total"] == 2
    assert s.get(f"{P}/api/dags/TableFlow/runs?tag=nope").json()["total"] == 0
    assert "team:scan" in s.get(f"{P}/dags/scan_dag").text


def test_run_page_shows_every_preview_kind(airflow_server):
    s = airflow_server
    page = s.get(f"{P}/dags/TableFlow/runs/{s.ids['run_a']}").text
    for text in (
        "table 100 \u00d7 3, first 50 rows shown",
        "<span class=dtype>float64</span>",
        "<td>cat</td>",
        "array 1000, dtype float64",
        "<th>mean</th>",
        "0.9375",
        "trained on cats and dogs",
        "&quot;adam&quot;",
        "src='data:image/png;base64,iVBOR",
        "download bytes",
        "Task(&#x27;TableFlow/" + s.ids["run_a"] + "/train/0&#x27;, _namespace_check=False)[&#x27;df&#x27;].data",
        "c0dec0de",
        "user:admin",
        "&quot;alpha&quot;: 0.5",
        "worker-1",
        "cpu=2, memory=4096",
    ):
        assert text in page, text
    # steps in the flow's order (run.json's steps, as the client lists them), the retried step shows
    # its newest attempt and a log link
    assert page.index(">start <") < page.index(">train <") < page.index(">end <")
    assert f"/dags/TableFlow/runs/{quote(RUN_A, safe='')}/tasks/train?try_number=2" in page
    data = s.get(f"{P}/api/dags/TableFlow/runs/{s.ids['run_a']}").json()
    train = next(st for st in data["steps"] if st["step"] == "train")["tasks"][0]
    assert train["status"] == "success" and train["attempts"] == [0, 1] and train["attempt"] == 1


def test_airflow_run_id_from_the_tab_href(airflow_server):
    # The UI fills {RUN_ID} with encodeURIComponent(airflow run id): ':' and '+' arrive encoded.
    s = airflow_server
    resp = s.get(f"{P}/dags/TableFlow/runs/{quote(RUN_A, safe='')}")
    assert resp.status == 200 and "table 100" in resp.text
    assert "script-src" in resp.headers["content-security-policy"]


def test_task_page_shows_failed_attempt_then_retry(airflow_server):
    s = airflow_server
    page = s.get(f"{P}/dags/TableFlow/runs/{s.ids['run_a']}/steps/train/tasks/0").text
    assert "RuntimeError: CUDA out of memory" in page
    assert page.count("badge s-failed") == 1 and "table 100" in page
    api = s.get(f"{P}/api/dags/TableFlow/runs/{s.ids['run_a']}/steps/train/tasks/0").json()
    assert [a["status"] for a in api["attempt_history"]] == ["failed", "success"]
    assert api["artifacts"]["df"]["preview"]["kind"] == "table"
    assert api["pathspec"] == f"TableFlow/{s.ids['run_a']}/train/0"


def test_task_instance_tab(airflow_server):
    s = airflow_server
    run = quote(BIG_RUN, safe="")
    page = s.get(f"{P}/dags/BigFlow/runs/{run}/tasks/process?map_index=7").text
    assert "process</a>/<a" in page or "process/7" in page
    assert "items[7] = 7" in page and "/tasks/process/mapped/7" in page
    # Unmapped tasks: the UI leaves the placeholder as is.
    page = s.get(f"{P}/dags/TableFlow/runs/{quote(RUN_A, safe='')}/tasks/train?map_index=%7BMAP_INDEX%7D").text
    assert "CUDA out of memory" in page
    assert s.get(f"{P}/dags/BigFlow/runs/{run}/tasks/process?map_index={BIG_TASKS}").status == 404


def test_download_returns_the_stored_bytes(airflow_server):
    s = airflow_server
    run = s.ids["run_a"]
    key = _key(s, "TableFlow", run, "df", "train")
    resp = s.get(f"{P}/dags/TableFlow/runs/{run}/steps/train/tasks/0/blobs/{key}")
    assert resp.status == 200
    assert resp.headers["content-type"] == "application/octet-stream"
    assert resp.headers["content-disposition"] == 'attachment; filename="df.arrow"'
    stored = Path(s.ids["root"], "TableFlow", "data", key[:2], key).read_bytes()
    assert resp.body == stored
    # a real blob of this flow that this task does not reference is not served through it
    other = _key(s, "TableFlow", run, "alpha")
    assert s.get(f"{P}/dags/TableFlow/runs/{run}/steps/train/tasks/0/blobs/{other}").status == 200  # inherited
    items_key = _key(s, "BigFlow", s.ids["big_run"], "items")
    assert s.get(f"{P}/dags/TableFlow/runs/{run}/steps/train/tasks/0/blobs/{items_key}").status == 404


def test_compare_two_runs(airflow_server):
    s = airflow_server
    a, b = s.ids["run_a"], s.ids["run_b"]
    data = s.get(f"{P}/api/dags/TableFlow/compare?a={a}&b={b}").json()
    changed = {(r["step"], r["name"]) for r in data["rows"] if r["state"] == "changed"}
    assert changed == {("train", "df"), ("end", "df")}
    assert data["counts"]["changed"] == 2 and data["counts"]["same"] > 10
    page = s.get(f"{P}/dags/TableFlow/compare?a={a}&b={b}").text
    assert "s-changed" in page and "<h2>Changed</h2>" in page and "unchanged" in page
    assert s.get(f"{P}/dags/TableFlow/compare?a={a}&b={s.ids['denied_run']}").status == 404


def test_renamed_dags_resolve_to_their_flow(airflow_server):
    s = airflow_server
    assert "RenamedFlow" in s.get(f"{P}/dags/renamed_dag/runs/manual__renamed_1").text  # _dags index file
    assert "ScanFlow" in s.get(f"{P}/dags/scan_dag/runs/manual__scan_1").text  # found by scanning run.json
    # a run is only served through its own DAG
    assert s.get(f"{P}/dags/renamed_dag/runs/{s.ids['run_a']}").status == 404
    assert s.get(f"{P}/dags/TableFlow/runs/manual__renamed_1").status == 404


def test_thousand_task_foreach_is_paged_and_fast(airflow_server):
    s = airflow_server
    run = s.ids["big_run"]
    timings = {}
    for name, url in (
        ("run page", f"{P}/dags/BigFlow/runs/{run}"),
        ("step page 20", f"{P}/dags/BigFlow/runs/{run}/steps/process?offset=950"),
        ("api step 500", f"{P}/api/dags/BigFlow/runs/{run}/steps/process?limit=500&offset=500"),
        ("compare 2x1000 tasks", f"{P}/api/dags/BigFlow/compare?a={run}&b={run}"),
        ("nav listing", f"{P}/"),
    ):
        start = time.perf_counter()
        resp = s.get(url)
        timings[name] = time.perf_counter() - start
        assert resp.status == 200, url
    print(f"\n1000-task run timings (cold, s): {timings}")
    page = s.get(f"{P}/dags/BigFlow/runs/{run}").text
    assert "1000 tasks" in page and "first 50 of 1000" in page and page.count("items[") == 50
    step = s.get(f"{P}/dags/BigFlow/runs/{run}/steps/process?offset=950").text
    assert "items[999] = 999" in step and "951-1000 of 1000" in step and "items[949]" not in step
    api = s.get(f"{P}/api/dags/BigFlow/runs/{run}/steps/process?limit=500&offset=500").json()
    assert api["total"] == 1000 and len(api["tasks"]) == 500 and api["tasks"][-1]["task_id"] == "999"
    assert timings["run page"] < 2.0 and timings["step page 20"] < 2.0
    assert timings["compare 2x1000 tasks"] < 5.0


BAD = [
    "/dags/NoSuchDag",
    "/dags/NoSuchDag/runs/x",
    "/dags/TableFlow/runs/nope",
    "/dags/%2E%2E/runs/x",
    "/dags/..%2F..%2Fetc/runs/x",
    "/dags/TableFlow/runs/..%2F..%2FDeniedFlow",
    "/dags/TableFlow/runs/%2E%2E",
    "/dags/TableFlow/runs/{run}/steps/..",
    "/dags/TableFlow/runs/{run}/steps/%2E%2E",
    "/dags/TableFlow/runs/{run}/steps/nope",
    "/dags/TableFlow/runs/{run}/steps/train/tasks/..",
    "/dags/TableFlow/runs/{run}/steps/train/tasks/7",
    "/dags/TableFlow/runs/{run}/steps/train/tasks/..%2F..",
    "/dags/TableFlow/runs/{run}/steps/train/tasks/0/blobs/..%2F..%2Frun.json",
    "/dags/TableFlow/runs/{run}/steps/train/tasks/0/blobs/" + "A" * 64,
    "/dags/TableFlow/runs/{run}/steps/train/tasks/0/blobs/" + "0" * 64,
    "/dags/TableFlow/runs/{run}/tasks/nope",
    "/dags/TableFlow/runs/{run}/tasks/%2E%2E",
    "/dags/TableFlow/compare?a=..&b=x",
    "/api/dags/NoSuchDag/runs",
    "/api/dags/TableFlow/runs/{run}/steps/%2E%2E",
    "/api/dags/TableFlow/runs/{run}/steps/train/tasks/..%5C..",
    "/api/dags/TableFlow/compare?a=nope&b={run}",
    "/dags/" + "x" * 300 + "/runs/y",
    "/dags/TableFlow/runs/a%00b",
    "/dags/TableFlow/runs/{run}/tasks/train?map_index=--5",
    "/dags/TableFlow/runs/{run}/tasks/train?map_index=%C2%B2",  # a superscript two: int() takes it
    "/dags/TableFlow/runs/{run}/tasks/train?map_index=abc",
]


@pytest.mark.parametrize("url", BAD)
def test_bad_or_unknown_ids_are_404(airflow_server, url):
    s = airflow_server
    resp = s.get(P + url.replace("{run}", s.ids["run_a"]))
    assert resp.status == 404, (url, resp.status, resp.text[:300])
    assert b"root:x:0" not in resp.body and b"Traceback" not in resp.body


def test_hostile_names_and_previews_are_escaped(airflow_server):
    s = airflow_server
    run = s.ids["hostile_run"]
    pages = [
        s.get(f"{P}/dags/HostileFlow/runs/{run}").text,
        s.get(f"{P}/dags/HostileFlow/runs/{run}/steps/start/tasks/0").text,
        s.get(f"{P}/").text,
        s.get(f"{P}/dags/HostileFlow").text,
        s.get(f"{P}/dags/HostileFlow/compare?a={run}&b={s.ids['hostile_run']}").text,
    ]
    for page in pages:
        assert "<script>alert" not in page and "<img src=x" not in page and "onerror=alert(1)>" not in page
    run_page = pages[0]
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in run_page  # name, table column and cell
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in run_page  # text preview
    assert "invalid image preview" in run_page
    assert "x&#x27;y" in pages[2]  # tag
    # download of the hostile-named artifact: the file name is sanitised
    resp = s.get(f"{P}/dags/HostileFlow/runs/{run}/steps/start/tasks/0/blobs/{s.ids['hostile_key']}")
    assert resp.status == 200 and '"' not in resp.headers["content-disposition"].split('filename="')[1][:-1]
    api = s.get(f"{P}/api/dags/HostileFlow/runs/{run}/steps/start/tasks/0").json()
    assert api["artifacts"][XSS]["preview"]["text"] == XSS_IMG  # JSON carries the raw value, as JSON
