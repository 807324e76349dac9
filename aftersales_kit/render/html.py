"""The one HTML layer of the report, the portfolio and the notebook views (markupsafe).

HTML is built from :class:`~markupsafe.Markup`: :func:`tag` escapes every ``str`` child and
attribute value and keeps ``Markup`` as it is, so text from the data (product names, reasons,
customer text, store names) is escaped unless something marks it safe on purpose, never by
remembering to call an escape function. :func:`table` is the one plain table and :class:`Section`
the one section type; :func:`meta_bundle` is the header/footer display bundle both notebooks emit.
Only markupsafe is imported at module level (format and text are imported where used), so the
exporter can read :data:`META_MIME` from here without loading polars.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from aftersales_kit import format as fmt
from aftersales_kit._version import __version__

__all__ = [
    "BUNDLE_TAG",
    "META_MIME",
    "SECTION_MIME",
    "SLOT",
    "Markup",
    "Section",
    "empty",
    "escape",
    "join",
    "meta_bundle",
    "section",
    "table",
    "tag",
    "with_html",
]

#: the mimetype of the report's metadata output; the exporter reads it and removes it.
META_MIME = "application/vnd.aftersales.report+json"
#: The live notebook's heading line: Lab's UI font and text colour (light and dark themes).
_META_STYLE = (
    "font-family: var(--jp-ui-font-family, sans-serif); font-size: 15px; "
    "color: var(--jp-ui-font-color1, inherit); padding: 4px 0"
)
#: output metadata key of the interactive-only CSS + vega bundle (dropped by the exporter).
BUNDLE_TAG = "aftersales_vega_bundle"
#: the report markup of a section beside its notebook view; the exporter puts it on the page.
SECTION_MIME = "application/vnd.aftersales.section+html"
#: A placeholder value for :func:`aftersales_kit.text.t` where HTML goes (see :func:`with_html`).
SLOT = "\x00"


def join(parts: Iterable[str | Markup | None], sep: str = "") -> Markup:
    """``parts`` concatenated: ``str`` parts escaped, ``Markup`` kept, ``None`` left out."""
    return Markup(escape(sep)).join(p for p in parts if p is not None)


def tag(name: str, *children: str | Markup | None, **attrs: str | None) -> Markup:
    """``<name …>children</name>``; ``class_`` becomes ``class``; an attribute that is ``None`` or
    ``""`` is left out (``tag("p", text, class_="")`` is a bare ``<p>``).

    >>> tag("p", "<b>data</b>", tag("b", "ok"), class_="note", title=None)
    Markup('<p class="note">&lt;b&gt;data&lt;/b&gt;<b>ok</b></p>')
    """
    # Plain string building: Markup.format runs a Formatter per call, which made tables of a
    # few hundred cells cost tens of milliseconds. ``escape`` keeps Markup as it is.
    attributes = "".join(
        f' {key.rstrip("_").replace("_", "-")}="{escape(value)}"'
        for key, value in attrs.items()
        if value
    )
    inner = "".join([escape(c) for c in children if c is not None])
    return Markup(f"<{name}{attributes}>{inner}</{name}>")


def empty(text: str) -> Markup:
    """What a section shows instead of data it does not have."""
    return tag("div", text, class_="report-empty")


def with_html(text: str, html: Markup) -> Markup:
    """``text`` escaped, with each :data:`SLOT` in it replaced by ``html``.

    For a catalog sentence with an HTML part: ``with_html(t("kpi.vs_previous", lang,
    delta=SLOT, previous=…), delta_html)``; the sentence is filled (and its plurals fixed) as
    plain text first, so nothing in it is ever read as HTML.
    """
    return html.join(text.split(SLOT))


def table(
    rows: Iterable[Sequence[str | Markup]],
    *,
    headers: Sequence[str] = (),
    num: Sequence[int] = (),
    classes: Sequence[str] = (),
    scroll: bool = True,
) -> Markup:
    """The report's plain table: ``str`` cells escaped and cut at ``fmt.MAX_TEXT_CHARS`` with "…"
    (customer text is untrusted and unbounded), ``Markup`` cells kept; the columns in ``num`` are
    right-aligned numbers. ``classes`` are added to ``report-table`` (``compact``: one line per
    row); no ``headers``, no ``<thead>``; ``scroll`` wraps it for narrow screens.

    >>> html = str(table([["a&b", "3"]], headers=["name", "n"], num=[1], scroll=False))
    >>> html[html.index("<tbody>") :]
    '<tbody><tr><td>a&amp;b</td><td class="num">3</td></tr></tbody></table>'
    """
    from aftersales_kit import format as fmt

    def cell(name: str, i: int, value: str | Markup) -> str:
        text = value if isinstance(value, Markup) else escape(fmt.clip(value))
        return f'<{name} class="num">{text}</{name}>' if i in num else f"<{name}>{text}</{name}>"

    body = Markup(
        "".join(
            [
                "<tr>" + "".join([cell("td", i, c) for i, c in enumerate(row)]) + "</tr>"
                for row in rows
            ]
        )
    )
    head = (
        Markup(
            "<thead><tr>"
            + "".join([cell("th", i, h) for i, h in enumerate(headers)])
            + "</tr></thead>"
        )
        if headers
        else None
    )
    html = tag("table", head, tag("tbody", body), class_=" ".join(["report-table", *classes]))
    return tag("div", html, class_="table-scroll") if scroll else html


@dataclass(frozen=True)
class Section:
    """One part of a page as HTML; displays as ``text/html`` with its title as ``text/plain``."""

    id: str
    title: str
    html: Markup
    lang: str = "zh"

    def _repr_html_(self) -> str:
        from aftersales_kit.render.charts import notebook_view, report_mode

        # A report run: the template brings the CSS and vegaEmbed. Anywhere else the output is
        # self-contained (scoped CSS, static chart pictures): nothing depends on an earlier output.
        return str(self.html) if report_mode() else notebook_view(str(self.html), lang=self.lang)

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, str]:
        from aftersales_kit.render.charts import report_mode

        bundle = {"text/html": self._repr_html_(), "text/plain": repr(self)}
        if not report_mode():
            # the page markup, so that nbconvert/`aftersales render` build the CLI's page
            bundle[SECTION_MIME] = str(self.html)
        return bundle

    def __repr__(self) -> str:
        # text/plain beside the HTML: the title, not 40 KB of markup
        return f"[{self.title or self.id or '…'}]"

    def __str__(self) -> str:
        return str(self.html)

    def __html__(self) -> Markup:
        return self.html


def section(sec_id: str, *parts: str | Markup | None, title: str, lang: str = "zh") -> Section:
    """``<section id=sec_id>`` with its ``<h2>`` title and ``parts`` (``str`` parts escaped)."""
    html = tag(
        "section",
        tag("h2", title, class_="report-h2"),
        *parts,
        class_="report-section",
        id=sec_id,
    )
    return Section(sec_id, title, html, lang)


def meta_bundle(
    lang: str,
    *,
    title: str,
    store_id: str,
    store_name: str,
    store_label: str,
    window_start: str,
    window_end: str,
    data_until: str,
    as_of: str,
    nav: Sequence[tuple[str, str]],
    footer: str,
) -> dict[str, object]:
    """The header/footer values the report template shows, as a display bundle the exporter
    consumes (removed from the page: the template shows them). A live notebook shows the line
    beside it: ``text/html`` in Lab (a heading line in Lab's own fonts and colours, where the
    ``text/plain`` alone showed as monospace output), ``text/plain`` elsewhere."""
    from aftersales_kit.text import t

    window = f"{window_start} — {window_end}"
    # The name heads the page and its <title>: a bidi override in it must not reorder them.
    store_name = fmt.visible(store_name)
    meta = {
        "lang": lang,
        "title": title,
        "store_id": store_id,
        "store_name": store_name,
        "store_label": store_label,
        "window": window,
        "window_start": window_start,
        "window_end": window_end,
        "window_label": t("report.window", lang),
        "data_until": data_until,
        "data_until_label": t("report.data_until", lang),
        "as_of": as_of,
        "as_of_label": t("report.as_of", lang),
        "version": __version__,
        "version_label": t("report.version", lang),
        "nav_label": t("report.nav", lang),
        "nav": [[anchor, text] for anchor, text in nav],
        "footer": footer,
        "generated_by": t("report.generated_by", lang, version=__version__),
    }
    # a store's page names the store; the estate overview is all stores
    parts = [title, store_name, window] if store_id else [title, window]
    plain = " · ".join(parts)
    heading = tag(
        "div",
        tag("strong", parts[0]),
        *(f" · {p}" for p in parts[1:]),
        class_="aftersales-meta",
        style=_META_STYLE,
    )
    return {META_MIME: meta, "text/html": str(heading), "text/plain": plain}


def display_bundle(
    bundle: Mapping[str, object], *, metadata: Mapping[str, object] | None = None
) -> None:
    """Show a raw MIME bundle in the running notebook (IPython's ``display(..., raw=True)``)."""
    from IPython import display as ipython_display

    # IPython's display() has no annotations: this is the typed boundary to it.
    show: Callable[..., None] = ipython_display.display
    if metadata is None:
        show(bundle, raw=True)
    else:
        show(bundle, raw=True, metadata=metadata)
