"""Snapshots of the portfolio overview (syrupy) from the store summaries of ``factory.estate``:
s1 links its report and has a name with HTML in it, s2 is computed in a notebook (no link), s3
has no counted order. Review a changed snapshot, then ``--snapshot-update``."""

from __future__ import annotations

from typing import Any

import pytest
from factory import AS_OF, WINDOW_END, WINDOW_START, estate
from syrupy.assertion import SnapshotAssertion

from aftersales_kit.diagnose import diagnose
from aftersales_kit.render import portfolio
from aftersales_kit.rules import load_rules
from aftersales_kit.window import Window

SECTIONS = (
    "headline",
    "ranking",
    "group_rollups",
    "distribution",
    "warning_stores",
    "short_boards",
    "open_at_risk",
)


def lines(html: object) -> str:
    """One tag per line, so a snapshot diff points at the element that changed."""
    return str(html).replace("><", ">\n<")


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    window = Window(WINDOW_START, WINDOW_END)
    ds = diagnose(estate(), window=window, rules=load_rules(), as_of=AS_OF)
    links = {"s1": "s1/2026-03-01_2026-03-30.html", "s3": "s3/2026-03-01_2026-03-30.html"}
    return {
        "window_start": WINDOW_START.isoformat(),
        "window_end": WINDOW_END.isoformat(),
        "stores": [
            portfolio.store_summary(d, report=links.get(k, "")) for k, d in sorted(ds.items())
        ],
    }


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("name", SECTIONS)
def test_overview_section(
    name: str, lang: str, summary: dict[str, Any], snapshot: SnapshotAssertion
) -> None:
    section = getattr(portfolio, name)(summary, lang=lang)
    assert "<b>" not in section.html  # the store name's HTML is escaped
    assert lines(section.html) == snapshot
    assert repr(section) == snapshot(name="repr")


def test_overview_without_stores(snapshot: SnapshotAssertion) -> None:
    empty = {"window_start": "2026-03-01", "window_end": "2026-03-30", "stores": []}
    for name in SECTIONS[1:]:
        assert lines(getattr(portfolio, name)(empty, lang="zh").html) == snapshot(name=name)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_meta(lang: str, summary: dict[str, Any], snapshot: SnapshotAssertion) -> None:
    assert portfolio.report_meta(summary, lang=lang) == snapshot
