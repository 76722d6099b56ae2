"""Card components with Metaflow's names (``metaflow.cards``): Markdown, Table, Image, VegaChart,
ProgressBar, Artifact.

Each renders itself to an inert HTML fragment (``safe_html``) inside the step; a component that
cannot render (a bad value, a missing renderer package) becomes an error box in the card and
never fails the step. Rendering is cached until ``update()``, so ``current.card.refresh()`` in a
loop re-renders only what changed (a chart costs ~100 ms to draw).
"""

from __future__ import annotations

import io
import reprlib
import traceback
from collections.abc import Sequence
from typing import Any

from airflow_ml_provider.cards.safe_html import (
    MissingRenderer,
    error_box,
    esc,
    image_tag,
    markdown_to_html,
    sanitize_fragment,
)

TABLE_MAX_ROWS = 1000  # Table.from_dataframe(truncate=True); Metaflow cuts far shorter


class MetaflowCardComponent:
    """Base of every component: ``render_html()`` never raises, ``update()`` marks it changed."""

    type = "component"
    REALTIME_UPDATABLE = False
    component_id: str | None = None

    def __init__(self) -> None:
        self._version = 0
        self._cache: tuple[int, str] | None = None

    def render(self) -> str:
        """The component's HTML fragment (may raise; ``render_html`` turns that into an error box)."""
        raise NotImplementedError

    def render_html(self) -> str:
        """The fragment, cached per version: a render racing an ``update()`` is never kept."""
        version = getattr(self, "_version", 0)
        cached = getattr(self, "_cache", None)
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            inner = self.render()
            if type(self).__module__ != __name__:  # a user's own component: its HTML is not trusted
                inner = sanitize_fragment(str(inner))
        except MissingRenderer as exc:
            inner = error_box(f"{type(self).__name__} could not render", str(exc))
        except Exception as exc:
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            inner = error_box(f"{type(self).__name__} could not render", detail)
        html = f'<div class="component component-{esc(self.type)}">{inner}</div>'
        self._cache = (version, html)
        return html

    def _changed(self) -> None:
        self._version = getattr(self, "_version", 0) + 1


def render_value(value: Any) -> str:
    """A table cell: a component renders itself, anything else is its escaped text."""
    if isinstance(value, MetaflowCardComponent):
        return value.render_html()
    return esc(value)


class Markdown(MetaflowCardComponent):
    """``Markdown(text)``: CommonMark, sanitized (raw HTML in the text is shown as text)."""

    type = "markdown"
    REALTIME_UPDATABLE = True

    def __init__(self, text: str | None = None) -> None:
        super().__init__()
        self.text = text

    def update(self, text: str | None = None) -> None:
        self.text = text
        self._changed()

    def render(self) -> str:
        return markdown_to_html(self.text or "")


class Table(MetaflowCardComponent):
    """``Table(data=[[...]], headers=[...])``: cells are values or components (nested)."""

    type = "table"
    REALTIME_UPDATABLE = True

    def __init__(
        self, data: Sequence[Sequence[Any]] | None = None, headers: Sequence[Any] | None = None, disable_updates=False
    ) -> None:
        super().__init__()
        self._data = [list(row) for row in (data or [])]
        self._headers = list(headers or [])
        self._note = ""

    @classmethod
    def from_dataframe(cls, dataframe: Any, truncate: bool = True) -> Table:
        """A pandas DataFrame as a table; ``truncate`` keeps the first 1000 rows (and says so)."""
        frame = dataframe.head(TABLE_MAX_ROWS) if truncate else dataframe
        table = cls(data=frame.astype(object).values.tolist(), headers=[str(c) for c in dataframe.columns])
        if truncate and len(dataframe) > TABLE_MAX_ROWS:
            table._note = f"first {TABLE_MAX_ROWS} of {len(dataframe)} rows"
        return table

    def update(self, data: Sequence[Sequence[Any]]) -> None:
        self._data = [list(row) for row in data]
        self._changed()

    def render(self) -> str:
        head = "".join(f"<th>{render_value(h)}</th>" for h in self._headers)
        rows = "".join("<tr>" + "".join(f"<td>{render_value(c)}</td>" for c in row) + "</tr>" for row in self._data)
        note = f'<div class="label">{esc(self._note)}</div>' if self._note else ""
        return f"<table>{f'<thead><tr>{head}</tr></thead>' if head else ''}<tbody>{rows}</tbody></table>{note}"


def _figure_png(plot: Any) -> bytes:
    figure = plot if hasattr(plot, "savefig") else getattr(plot, "figure", None)  # Figure, pyplot, or Axes
    if not hasattr(figure, "savefig"):
        raise TypeError(f"Image.from_matplotlib needs a matplotlib Figure or Axes, not {type(plot).__name__}")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _pil_png(image: Any) -> bytes:
    if not hasattr(image, "save") or not hasattr(image, "mode"):
        raise TypeError(f"Image.from_pil_image needs a PIL image, not {type(image).__name__}")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Image(MetaflowCardComponent):
    """``Image(src=bytes, label=None)``: PNG, JPEG or SVG bytes (checked), shown inline."""

    type = "image"
    REALTIME_UPDATABLE = True

    def __init__(self, src: bytes | None = None, label: str | None = None, disable_updates: bool = False) -> None:
        super().__init__()
        self._src, self._label = src, label

    @classmethod
    def from_pil_image(cls, pilimage: Any, label: str | None = None, disable_updates: bool = False) -> Image:
        """A PIL image, stored as PNG."""
        return cls(_pil_png(pilimage), label)

    @classmethod
    def from_matplotlib(cls, plot: Any, label: str | None = None, disable_updates: bool = False) -> Image:
        """A matplotlib Figure (or Axes), drawn to PNG now: later changes to the figure do not show."""
        return cls(_figure_png(plot), label)

    def update(self, image: Any, label: str | None = None) -> None:
        """New bytes, a PIL image or a matplotlib figure."""
        if isinstance(image, bytes | bytearray | memoryview):
            self._src = bytes(image)
        elif hasattr(image, "savefig") or hasattr(image, "figure"):
            self._src = _figure_png(image)
        else:
            self._src = _pil_png(image)
        if label is not None:
            self._label = label
        self._changed()

    def render(self) -> str:
        if not isinstance(self._src, bytes | bytearray | memoryview):
            raise TypeError(f"Image(src=...) takes the image's bytes, not {type(self._src).__name__}")
        label = f'<div class="label">{esc(self._label)}</div>' if self._label else ""
        return image_tag(bytes(self._src), alt=self._label or "image") + label


class VegaChart(MetaflowCardComponent):
    """``VegaChart(spec)``: a Vega-Lite spec (dict) or an Altair chart, drawn to SVG when rendered."""

    type = "vegachart"
    REALTIME_UPDATABLE = True

    def __init__(self, spec: Any, show_controls: bool = False) -> None:
        super().__init__()
        self._spec = spec

    @classmethod
    def from_altair_chart(cls, altair_chart: Any) -> VegaChart:
        return cls(altair_chart)

    def update(self, spec: Any = None) -> None:
        if spec is not None:
            self._spec = spec
        self._changed()

    def render(self) -> str:
        spec = self._spec.to_dict() if hasattr(self._spec, "to_dict") else self._spec
        if not isinstance(spec, dict):
            raise TypeError(f"VegaChart needs a Vega-Lite spec (dict) or an Altair chart, not {type(spec).__name__}")
        try:
            import vl_convert
        except ImportError:
            raise MissingRenderer("VegaChart", "vl_convert") from None
        svg = vl_convert.vegalite_to_svg(spec)
        return image_tag(svg.encode("utf-8"), alt=str(spec.get("title") or spec.get("description") or "chart"),
                         css_class="chart")  # fmt: skip


class ProgressBar(MetaflowCardComponent):
    """``ProgressBar(max=100, label=None, value=0, unit=None)``; ``update(value)`` then ``refresh()``."""

    type = "progressBar"
    REALTIME_UPDATABLE = True

    def __init__(
        self, max: float = 100, label: str | None = None, value: float = 0, unit: str | None = None, metadata=None
    ) -> None:
        super().__init__()
        self.max, self.label, self.value, self.unit, self.metadata = max, label, value, unit, metadata

    def update(self, new_value: float, metadata: str | None = None) -> None:
        self.value = new_value
        if metadata is not None:
            self.metadata = metadata
        self._changed()

    def render(self) -> str:
        maximum, value = float(self.max), float(self.value)
        unit = f" {self.unit}" if self.unit else ""
        label = f'<span class="label">{esc(self.label)}</span> ' if self.label else ""
        meta = f' <span class="label">{esc(self.metadata)}</span>' if self.metadata else ""
        return (
            f'{label}<progress max="{maximum:g}" value="{min(value, maximum):g}"></progress> '
            f"<span>{esc(f'{value:g}/{maximum:g}{unit}')}</span>{meta}"
        )


_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict, _REPR.maxlevel = 2000, 2000, 50, 50, 4


class Artifact(MetaflowCardComponent):
    """``Artifact(value, name=None)``: a bounded repr of any Python value."""

    type = "artifact"
    REALTIME_UPDATABLE = True

    def __init__(self, artifact: Any, name: str | None = None, compressed: bool = True) -> None:
        super().__init__()
        self._artifact, self._name = artifact, name

    def update(self, artifact: Any) -> None:
        self._artifact = artifact
        self._changed()

    def render(self) -> str:
        name = f'<div class="label">{esc(self._name)}</div>' if self._name else ""
        return f"{name}<pre>{esc(_REPR.repr(self._artifact))}</pre>"


class Error(MetaflowCardComponent):
    """Shown in place of something that failed (a warning, an error raised while refreshing)."""

    type = "error"

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self._title, self._message = title, message

    def render(self) -> str:
        return error_box(self._title, self._message)
