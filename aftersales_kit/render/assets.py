"""Light batch reports: one shared chart library and stylesheet per reports folder.

A report made alone (``aftersales report``) is one self-contained file. In a batch every page would
inline the same ~0.9 MB vega bundle and the report CSS (1 MB per page, ~10 GB at 10,000 stores), so
the batch moves them to ``<out>/_assets/aftersales-<hash>.js`` / ``.css`` and the page links them
relatively (``../_assets/…``): the folder, zipped and unzipped anywhere, still opens offline.
The file names carry a hash of their content, so a toolkit update never mixes old pages with a
new library, and :func:`inline` turns a light page back into the self-contained one, byte for
byte (the test that a batch page shows what ``report`` shows relies on it).
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

from aftersales_kit.errors import ReportError
from aftersales_kit.files import atomic_write

ASSET_DIR = "_assets"
_STYLE_OPEN = '<style type="text/css">\n'
_STYLE_CLOSE = "\n</style>\n"
_SCRIPT_OPEN = "<script>"
_SCRIPT_CLOSE = "</script>"
_LINKS = re.compile(
    r'<link rel="stylesheet" href="(?P<css>[^"]+\.css)" data-aftersales-asset>\n'
    r'<script src="(?P<js>[^"]+\.js)" data-aftersales-asset></script>'
)


def _name(text: str, *, suffix: str) -> str:
    return f"aftersales-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}{suffix}"


@functools.cache
def _bundle() -> tuple[str, str]:
    """The vega bundle as a page inlines it, and its asset file name (once per process: the
    escape and the hash of 0.9 MB were a few milliseconds of every batch page)."""
    from aftersales_kit.resources import vega_bundle

    bundle = vega_bundle().replace("</script", "<\\/script")
    return bundle, _name(bundle, suffix=".js")


@functools.lru_cache(maxsize=8)
def _css_name(css: str) -> str:
    return _name(css, suffix=".css")


def _write_once(path: Path, text: str) -> None:
    """Write ``path`` unless it already holds ``text`` (content-named: same name, same text)."""
    if path.is_file() and path.stat().st_size == len(text.encode("utf-8")):
        return
    atomic_write(path, data=text)


def lighten(html: str, *, out_dir: Path, page_dir: Path) -> str:
    """``html`` (an exported report) with its inlined stylesheet and vega bundle moved to
    ``out_dir/_assets/`` and linked relative to ``page_dir`` (the folder the page is written to).
    """
    start = html.find(_STYLE_OPEN)
    end = html.find(_STYLE_CLOSE, start)
    bundle, js_name = _bundle()
    script = _SCRIPT_OPEN + bundle + _SCRIPT_CLOSE
    after = end + len(_STYLE_CLOSE)
    if start < 0 or end < 0 or not html.startswith(script, after):
        msg = "报告页面的结构与模板不符 (the page does not have the template's head); 无法共享资源"
        raise ReportError(msg)
    css = html[start + len(_STYLE_OPEN) : end]
    folder = out_dir / ASSET_DIR
    css_name = _css_name(css)
    _write_once(folder / css_name, css)
    _write_once(folder / js_name, bundle)
    rel = Path(*[".."] * len(page_dir.relative_to(out_dir).parts), ASSET_DIR).as_posix()
    links = (
        f'<link rel="stylesheet" href="{rel}/{css_name}" data-aftersales-asset>\n'
        f'<script src="{rel}/{js_name}" data-aftersales-asset></script>'
    )
    return html[:start] + links + html[after + len(script) :]


def inline(html: str, *, page_dir: Path) -> str:
    """A light page back to the self-contained one (the assets read from beside it)."""
    match = _LINKS.search(html)
    if match is None:
        return html
    css = (page_dir / match["css"]).read_text(encoding="utf-8")
    bundle = (page_dir / match["js"]).read_text(encoding="utf-8")
    head = _STYLE_OPEN + css + _STYLE_CLOSE + _SCRIPT_OPEN + bundle + _SCRIPT_CLOSE
    return html[: match.start()] + head + html[match.end() :]
