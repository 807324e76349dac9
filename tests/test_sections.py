"""Snapshots of every section of the store report (syrupy), drawn from the fixed estate of
``factory.estate``: s1 shows every part (charts, tables, callouts, escaped customer text), s3 the
empty states. A changed snapshot is a changed report: review the diff, then
``pytest tests/test_sections.py --snapshot-update``."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from factory import AS_OF, PAYLOAD, WINDOW_END, WINDOW_START, estate
from syrupy.assertion import SnapshotAssertion

from aftersales_kit.diagnose import diagnose
from aftersales_kit.load import LoadReport
from aftersales_kit.model import Diagnosis
from aftersales_kit.render import sections
from aftersales_kit.render.html import Section
from aftersales_kit.rules import Rules, load_rules
from aftersales_kit.window import Window

RULES = load_rules()
#: every section function of the notebook, in the report's order.
SECTIONS: dict[str, Callable[..., Section]] = {
    "kpi_cards": sections.kpi_cards,
    "tomorrow": sections.tomorrow,
    "trend": sections.trend,
    "stages": sections.stages,
    "breakdown": sections.breakdown,
    "alerts": sections.alerts,
    "teams": sections.teams,
    "top100": sections.top100,
    "heatmap": sections.heatmap,
    "classes": sections.classes,
    "what_if": sections.what_if,
    "suggestions": sections.suggestions,
    "reconcile": sections.reconcile,
    "methodology": sections.methodology,
    "data_quality": sections.data_quality,
    "manager_views": sections.manager_views,
}
WITH_RULES = {"tomorrow", "methodology"}


def lines(html: object) -> str:
    """One tag per line, so a snapshot diff points at the element that changed."""
    return str(html).replace("><", ">\n<")


def render(name: str, d: Diagnosis, *, rules: Rules, lang: str) -> Section:
    extra = {"rules": rules} if name in WITH_RULES else {}
    return SECTIONS[name](d, lang=lang, **extra)


@pytest.fixture(scope="module")
def diagnoses() -> dict[str, Diagnosis]:
    # A real LoadReport: the data-quality section shows its duplicate, warning and unknown counts.
    load_report = LoadReport(
        files=[],
        rows=16,
        duplicates_dropped=1,
        bad_rows_dropped=0,
        stores={"s1": 13, "s2": 2, "s3": 1},
        errors=[],
        warnings=[],
        warning_counts={"unparsed_time": 2},
        unknown_values={"service_type": {"维修<i>": 1}},
    )
    return diagnose(
        estate(),
        window=Window(WINDOW_START, WINDOW_END),
        rules=RULES,
        as_of=AS_OF,
        published_hours={"s1": 70.0},
        load_report=load_report,
    )


def test_every_section_of_the_report_is_snapshotted(diagnoses: dict[str, Diagnosis]) -> None:
    ids = [render(name, diagnoses["s1"], rules=RULES, lang="zh").id for name in SECTIONS]
    assert ids == [sec_id for sec_id, _ in sections.SECTIONS]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("name", list(SECTIONS))
def test_section_of_a_full_store(
    name: str, lang: str, diagnoses: dict[str, Diagnosis], snapshot: SnapshotAssertion
) -> None:
    section = render(name, diagnoses["s1"], rules=RULES, lang=lang)
    assert PAYLOAD not in section.html  # customer text is escaped, wherever it appears
    assert lines(section.html) == snapshot
    assert repr(section) == snapshot(name="repr")


@pytest.mark.parametrize("name", list(SECTIONS))
def test_section_of_a_store_without_counted_orders(
    name: str, diagnoses: dict[str, Diagnosis], snapshot: SnapshotAssertion
) -> None:
    assert lines(render(name, diagnoses["s3"], rules=RULES, lang="zh").html) == snapshot


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_meta_and_notebook_view(
    lang: str, diagnoses: dict[str, Diagnosis], snapshot: SnapshotAssertion
) -> None:
    d = diagnoses["s1"]
    assert sections.report_meta(d, rules=RULES, lang=lang) == snapshot(name="meta")
    # the view without the CSS and the trust hint every view carries (tested in test_api)
    view = sections.diagnosis_html(d, lang=lang)
    view = re.sub(
        r"<style>.*?</style><p class=\"aftersales-hint\">[^<]*</p>",
        "",
        view,
        flags=re.DOTALL,
    )
    assert lines(view) == snapshot(name="view")
