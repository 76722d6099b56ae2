"""Card components render the HTML a user expects, hostile input stays inert, and a component that
cannot render shows its error instead of failing.

In-process: components are rendered into whole card pages exactly as the step does
(``cards.layout.render_card``), then the page is checked as a browser would receive it.
"""

from __future__ import annotations

import base64
import io
import re
import sys
from html.parser import HTMLParser

import pytest

from airflow_ml_provider.cards import Artifact, Image, Markdown, ProgressBar, Table, VegaChart
from airflow_ml_provider.cards.layout import render_card

INFO = {"flow_name": "F", "run_id": "r1", "step": "start", "task_id": "0", "attempt": 0, "status": "success"}

SPEC = {
    "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
    "description": "a bar chart",
    "data": {"values": [{"a": "x", "b": 3}, {"a": "y", "b": 5}]},
    "mark": "bar",
    "encoding": {"x": {"field": "a", "type": "nominal"}, "y": {"field": "b", "type": "quantitative"}},
}


def blank(*components) -> str:
    return render_card("blank", components, INFO)


class _Tags(HTMLParser):
    """Every start tag with its attributes, as a browser parses them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def assert_inert(page: str) -> None:
    """What a browser must never get from a card: scripts, event handlers, script URLs, frames."""
    parser = _Tags()
    parser.feed(page)
    for tag, attrs in parser.tags:
        assert tag not in ("script", "iframe", "object", "embed", "form", "base", "link"), tag
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name, value)
            if name in ("href", "src", "action", "formaction", "xlink:href"):
                assert not re.match(r"\s*(javascript|vbscript|data:text)", (value or "").lower()), (tag, name, value)
    assert "default-src 'none'" in page and "script-src" not in page  # the CSP forbids scripts outright


def data_uris(page: str) -> list[tuple[str, bytes]]:
    return [(m, base64.b64decode(b)) for m, b in re.findall(r'src="data:([a-z/+]+);base64,([A-Za-z0-9+/=]+)"', page)]


def test_markdown_renders_and_table_nests_components() -> None:
    page = blank(
        Markdown("# Title\nSome **bold** and a [link](https://example.com)."),
        Table([[1, "a&b", Markdown("*x*")], [2, None, ProgressBar(max=4, value=1)]], headers=["n", "text", "cell"]),
    )
    assert "<h1>Title</h1>" in page and "<strong>bold</strong>" in page
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">link</a>' in page
    assert "<thead><tr><th>n</th><th>text</th><th>cell</th></tr></thead>" in page
    assert "<td>a&amp;b</td>" in page and "<td>None</td>" in page
    assert "<em>x</em>" in page and '<progress max="4" value="1"></progress>' in page
    assert_inert(page)


def test_table_from_dataframe_keeps_1000_rows_and_says_so() -> None:
    import pandas as pd

    page = blank(Table.from_dataframe(pd.DataFrame({"x": range(1500), "y": ["<b>"] * 1500})))
    assert page.count("<tr>") == 1 + 1000
    assert "first 1000 of 1500 rows" in page and "<td>&lt;b&gt;</td>" in page


def test_progress_bar_update_and_artifact() -> None:
    bar = ProgressBar(max=10, label="epochs", unit="ep")
    first = blank(bar)
    bar.update(7)
    second = blank(bar, Artifact({"k": [1, 2]}, name="thing"))
    assert '<progress max="10" value="0"></progress>' in first and "0/10 ep" in first
    assert '<progress max="10" value="7"></progress>' in second and "7/10 ep" in second
    assert "{&#x27;k&#x27;: [1, 2]}" in second and "thing" in second


def test_matplotlib_image_is_an_inline_png() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    page = blank(Image.from_matplotlib(fig, label="curve"), Image.from_matplotlib(ax))
    images = data_uris(page)
    assert [m for m, _ in images] == ["image/png", "image/png"]
    assert all(b.startswith(b"\x89PNG\r\n\x1a\n") and len(b) > 1000 for _, b in images)
    assert "curve" in page
    plt.close(fig)


def test_pil_image_and_jpeg_bytes() -> None:
    from PIL import Image as PILImage

    picture = PILImage.new("RGB", (8, 8), "red")
    jpeg = io.BytesIO()
    picture.save(jpeg, format="JPEG")
    page = blank(Image.from_pil_image(picture), Image(jpeg.getvalue(), label="jpeg"))
    assert [m for m, _ in data_uris(page)] == ["image/png", "image/jpeg"]


def test_vega_chart_from_a_spec_and_from_altair_is_svg() -> None:
    import altair as alt
    import pandas as pd

    chart = alt.Chart(pd.DataFrame({"a": ["x", "y"], "b": [1, 2]})).mark_line().encode(x="a", y="b")
    page = blank(VegaChart(SPEC), VegaChart.from_altair_chart(chart))
    images = data_uris(page)
    assert [m for m, _ in images] == ["image/svg+xml", "image/svg+xml"]
    assert all(b.lstrip().startswith(b"<svg") for _, b in images)
    assert_inert(page)


HOSTILE_MARKDOWN = """
<script>alert(1)</script>
<img src=x onerror=alert(2)>
[click](javascript:alert(3)) [data](data:text/html;base64,PHNjcmlwdD4=)
<a href="https://ok" onclick="alert(4)">raw link</a>
![pic](javascript:alert(5))
<iframe src="https://evil"></iframe>
**bold** <svg onload=alert(6)>
"""


def test_hostile_markdown_is_sanitized() -> None:
    page = blank(Markdown(HOSTILE_MARKDOWN))
    assert_inert(page)
    assert "<strong>bold</strong>" in page
    assert "&lt;script&gt;" in page  # raw HTML in Markdown is shown as text, not run
    assert "<img" not in page and "<a " not in page.replace('<a href="https://ok"', "")


@pytest.mark.parametrize(
    "component",
    [
        Table([['"><script>alert(1)</script>', "<img src=x onerror=alert(1)>"]], headers=['" onmouseover="x']),
        Artifact("</pre><script>alert(1)</script>", name='"><svg onload=alert(1)>'),
        ProgressBar(label="<script>x</script>", unit='" onclick="y', metadata="<b onclick=1>"),
        Image(
            base64.b64decode(
                "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
            ),
            label='" onload="alert(1)',
        ),
    ],
)
def test_text_and_attributes_are_escaped(component) -> None:
    page = blank(component)
    assert_inert(page)
    assert "&lt;script&gt;" in page or "&quot;" in page


def test_svg_with_a_script_stays_an_image() -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><circle r="4"/></svg>'
    page = blank(Image(svg))
    assert_inert(page)  # only base64 inside an <img>: browsers never run scripts of an SVG image
    assert data_uris(page) == [("image/svg+xml", svg)]


@pytest.mark.parametrize(
    ("component", "shown"),
    [
        (Image(b"<html><script>alert(1)</script></html>"), "not a PNG, JPEG or SVG image"),
        (Image("not bytes"), "takes the image&#x27;s bytes, not str"),
        (VegaChart({"mark": "nonsense-mark", "data": {"values": []}}), "VegaChart could not render"),
        (VegaChart([1, 2]), "needs a Vega-Lite spec (dict) or an Altair chart, not list"),
        (ProgressBar(max="lots"), "ValueError"),
    ],
)
def test_a_component_that_cannot_render_shows_its_error(component, shown) -> None:
    page = blank(Markdown("before"), component, Markdown("after"))
    assert '<div class="error">' in page and shown in page
    assert "<p>before</p>" in page and "<p>after</p>" in page
    assert_inert(page)


def test_a_missing_renderer_names_the_cards_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vl_convert", None)
    monkeypatch.setitem(sys.modules, "nh3", None)
    page = blank(VegaChart(SPEC), Markdown("hi"))
    assert "VegaChart needs the &#x27;cards&#x27; extra (missing module &#x27;vl_convert&#x27;)" in page
    assert "Markdown needs the &#x27;cards&#x27; extra (missing module &#x27;nh3&#x27;)" in page
    assert "pip install &#x27;airflow-ml-provider[cards]&#x27;" in page


def test_default_card_shows_task_parameters_and_artifacts() -> None:
    info = {
        **INFO,
        "artifacts": {
            "alpha": {"type": "float", "size": 21, "preview": {"kind": "scalar", "text": "0.5"}},
            "df": {"type": "pandas.DataFrame", "size": 900, "preview": {
                "kind": "table", "shape": [2, 1], "columns": [{"name": "<c>", "dtype": "int64"}], "rows": [[1], [2]]}},
            "note": {"type": "str", "size": 40, "preview": {"kind": "text", "text": "<script>alert(1)</script>"}},
        },
    }  # fmt: skip
    page = render_card("default", [Markdown("user part")], info, parameter_names=["alpha"])
    params, artifacts = page.split("<h2>Parameters</h2>")[1].split("<h2>Artifacts</h2>")
    assert "<code>alpha</code>" in params and "0.5" in params and "df" not in params
    assert "<code>df</code>" in artifacts and "<th>&lt;c&gt;</th>" in artifacts and "2 x 1" in artifacts
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in artifacts
    assert "<th>status</th><td>success</td>" in page and "<p>user part</p>" in page
    assert_inert(page)
