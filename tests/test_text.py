"""User-facing strings: both languages complete, placeholders consistent, findings worded."""

from __future__ import annotations

import re
import string
from datetime import date, datetime

import pytest

from aftersales_kit import format as fmt
from aftersales_kit.demo import simulate as demo
from aftersales_kit.diagnose import diagnose
from aftersales_kit.errors import UsageError
from aftersales_kit.model import Finding, FindingKind
from aftersales_kit.rules import load_rules
from aftersales_kit.text import FINDINGS, LABELS, STRINGS, both, finding_text, label, t
from aftersales_kit.window import default_window


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_t_fills_placeholders_in_both_languages() -> None:
    # Issue 10: no stray spaces inside Chinese sentences, whole numbers without ".0" in labels.
    assert t("kpi.over_60h", "zh", hours="60小时") == "超60小时占比"
    assert t("kpi.over_60h", "en", hours="60 h") == "Share over 60 h"
    assert t("report.title") == "售后服务时长诊断报告"
    assert t("report.title", "en") == "After-sales service duration report"


def test_t_rejects_unknown_key_and_language() -> None:
    with pytest.raises(KeyError, match=r"no\.such\.key"):
        t("no.such.key")
    with pytest.raises(UsageError, match="'fr'"):
        t("report.title", "fr")


def test_every_string_has_both_languages_with_the_same_placeholders() -> None:
    empty = [key for key, (zh, en) in sorted(STRINGS.items()) if not (zh.strip() and en.strip())]
    assert not empty, f"strings missing a language: {empty}"
    differ = {
        key: (sorted(_fields(zh)), sorted(_fields(en)))
        for key, (zh, en) in sorted(STRINGS.items())
        if _fields(zh) != _fields(en)
    }
    assert not differ, f"placeholders differ between zh and en (key: (zh, en)): {differ}"


def test_every_finding_text_has_the_same_placeholders() -> None:
    differ = [
        kind
        for kind, (title_zh, title_en, advice_zh, advice_en) in sorted(FINDINGS.items())
        if _fields(title_zh) != _fields(title_en) or _fields(advice_zh) != _fields(advice_en)
    ]
    assert not differ, f"finding texts whose placeholders differ between zh and en: {differ}"


def test_every_finding_kind_has_its_own_text() -> None:
    assert {k.value for k in FindingKind} <= set(FINDINGS)


def test_labels_translate_and_fall_back() -> None:
    assert label("stage", "audit") == "审核"
    assert label("stage", "audit", "en") == "Audit"
    assert label("scene", "闪电退款", "en") == "Flash Refund (闪电退款)"
    # 上门换新 (audit result) and 线下换新 (processing result) name one scene.
    assert label("scene", "线下换新") == label("scene", "上门换新") == "上门换新/线下换新"
    assert label("scene", "以旧换新", "en") == "以旧换新"  # unknown scene: shown as it is
    assert label("weekday", 7) == "周日"
    assert all(zh and en for zh, en in LABELS.values())


def test_short_board_finding_in_the_merchants_words() -> None:
    finding = Finding(
        FindingKind.SHORT_BOARD,
        3,
        {
            "scene": fmt.Scene("退货"),
            "stage": fmt.Stage("audit"),
            "excess_hours": fmt.Hours(281.66),
            "share_of_excess": fmt.Share(0.4234),
            "controllable_excess_hours": fmt.Hours(281.66),
            "target_hours": fmt.HoursLimit(60.0),
            "line_name": fmt.LineName("warning"),
        },
    )
    zh = finding_text(finding)
    # The 60 h line is the consumer-warning line (提示线), not a target.
    assert zh.title == "短板：退货的审核环节，服务单超出提示线60小时的时长42.3%来自这里"
    assert "一次性沟通完成率" in zh.advice and "流程图" in zh.advice
    assert "不要批量驳回" in zh.advice
    assert zh.severity == "紧急"
    en = finding_text(finding, lang="en")
    assert en.title == (
        "Bottleneck (短板): the Audit stage of Return, 42.3% of the hours orders spent over the"
        " 60 h warning line"
    )
    assert en.severity == "Urgent"
    target = finding_text(
        Finding(
            FindingKind.SHORT_BOARD,
            2,
            {
                **finding.values,
                "target_hours": fmt.HoursLimit(48),
                "line_name": fmt.LineName("target"),
            },
        )
    )
    assert target.title == "短板：退货的审核环节，服务单超出目标48小时的时长42.3%来自这里"


def test_finding_values_are_formatted() -> None:
    finding = Finding(
        FindingKind.AUDIT_PEAK_STAFFING,
        2,
        {
            "rule": fmt.Rule("audit_over_24h"),
            "threshold_hours": fmt.HoursLimit(24.0),
            "count": fmt.Count(21),
            "share": fmt.Share(0.328),
            "audit_mean_hours": fmt.Hours(22.04),
            "peak_hours": fmt.ClockHours((21, 10)),
            "variant": "night",
            "slow_hours": fmt.ClockHours((22, 21)),
            "slow_median_hours": fmt.Hours(20.24),
            "fast_hours": fmt.ClockHours((10, 14)),
            "fast_median_hours": fmt.Hours(3.04),
        },
    )
    text = finding_text(finding)
    assert text.title == "审核超24小时的服务单有21单（32.8%），夜间申请要等到早班"
    assert text.advice.startswith(
        "按申请时段（一周各天合计，只看申请≥20单的时段）：22:00、21:00申请的审核中位数为"
        "20.2 小时，10:00、14:00申请的为3.0 小时。"
    )
    assert "22.0 小时" in text.advice
    trend = finding_text(
        Finding(
            FindingKind.TREND_UP,
            2,
            {
                "mean_hours": fmt.Hours(66.0),
                "previous_mean_hours": fmt.Hours(60.0),
                "change_share": fmt.Change(0.1),
            },
        ),
        lang="en",
    )
    assert trend.title == "Duration up on the previous period: 60.0 h → 66.0 h (+10.0%)"


def test_missing_values_show_a_dash_instead_of_failing() -> None:
    text = finding_text(Finding(FindingKind.PICKUP_SLOW, 2, {}))
    assert text.title == "取件/寄回超—的服务单有—单（—）"


def test_findings_of_a_real_diagnosis_have_every_value() -> None:
    frame = demo.generate(stores=4, orders=400, end=date(2026, 10, 31))
    rules = load_rules()
    result = diagnose(
        frame,
        window=default_window(end=date(2026, 10, 31), rules=rules),
        rules=rules,
        as_of=datetime(2026, 11, 1, 9),
    )
    findings = [f for d in result.values() for f in d.findings]
    assert findings
    for finding in findings:
        for lang in ("zh", "en"):
            text = finding_text(finding, lang=lang)
            # "—" would mean a placeholder the diagnosis does not provide
            assert "—" not in text.title + text.advice, (finding.kind, lang, text)


def test_controllable_short_board_takes_its_stage_advice() -> None:
    finding = Finding(
        FindingKind.CONTROLLABLE_SHORT_BOARD,
        3,
        {
            "scene": fmt.Scene("仅退款"),
            "stage": fmt.Stage("audit"),
            "controllable_excess_hours": fmt.Hours(12.5),
            "line_name": fmt.LineName("warning"),
        },
    )
    zh = finding_text(finding, lang="zh")
    assert zh.title == "商家可控的最大短板：仅退款的审核环节，可控的超出提示线时长12.5 小时"
    assert zh.advice.startswith("审核阶段是商家主观可控的")
    en = finding_text(finding, lang="en")
    assert en.advice.startswith("The audit stage is fully in your hands")


#: CJK ideographs and full-width punctuation; a space between two of them, or between one and a
#: digit, is a stray space in a Chinese sentence (issue 10, "JD's terms").
_CJK = r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"
_STRAY = re.compile(rf"{_CJK}[ \t]+(?={_CJK}|\d)|(?<=\d)[ \t]+(?={_CJK})")


#: Header lines of fields (store, dates, figure), not sentences: spaces separate the fields. The
#: push message (a phone screen of figures, push.py) sets its figures apart the same way.
_FIELD_LINES = frozenset({"mail.subject", "mail.heading"}) | {
    k for k in STRINGS if k.startswith("push.")
}


def _zh_templates() -> list[tuple[str, str]]:
    out = [(k, zh) for k, (zh, _) in STRINGS.items() if k not in _FIELD_LINES]
    out += [(f"finding {k}", v[0]) for k, v in FINDINGS.items()]
    out += [(f"advice {k}", v[2]) for k, v in FINDINGS.items()]
    out += [(f"label {k}", zh) for k, (zh, _) in LABELS.items()]
    return out


def test_no_stray_spaces_inside_chinese_sentences() -> None:
    # Placeholders filled with a number: "共 {n} 单" would read "共 12 单".
    filled = [(key, re.sub(r"\{[a-z_]+\}", "12", template)) for key, template in _zh_templates()]
    stray = [(key, text) for key, text in filled if _STRAY.search(text)]
    assert not stray, f"stray spaces inside Chinese sentences (key, text): {stray}"


def test_the_space_check_catches_a_stray_space() -> None:
    # the check above must be able to fail: a space between Chinese and a number is caught
    assert _STRAY.search("共 12 单") and not _STRAY.search("共12单")


@pytest.mark.parametrize(
    "word",
    ["考核窗口", "统计窗口", "上一窗口", "本窗口", "同行", "假如", "交易页", "逆向运输", "高风险"],
)
def test_jd_terms_only(word: str) -> None:
    # JD's own vocabulary (考核周期, 本批店铺中位, 改善测算, 交易咨询页面, 逆向物流) throughout.
    hits = [k for k, zh in _zh_templates() if word in zh]
    assert not hits, (word, hits)


def test_english_plurals_agree_with_their_count() -> None:
    assert t("kpi.counted_line", "en", n=1) == "1 service order counted"
    assert t("kpi.counted_line", "en", n=2) == "2 service orders counted"
    assert t("kpi.counted_line", "en", n="1,001") == "1,001 service orders counted"
    one = finding_text(
        Finding(
            FindingKind.OPEN_AT_RISK,
            2,
            {"count": fmt.Count(1), "horizon_hours": fmt.HoursLimit(24.0)},
        ),
        lang="en",
    )
    assert one.title.startswith("Open service orders reaching a stage warning line within 24 h: 1 ")
    # The plural follows the count's value, whatever it is called (issue 13).
    assert t("tomorrow.moves", "en", leaving=1, out=1, old=0, history_days=180, entering=2) == (
        "1 service order leaves the sample (1 completed before the new period, 0 applied more "
        "than 180 days before), 2 enter."
    )
    slow = Finding(
        FindingKind.PICKUP_SLOW,
        2,
        {"count": fmt.Count(1), "share": fmt.Share(0.1), "threshold_hours": fmt.HoursLimit(24)},
    )
    assert finding_text(slow, lang="en").title == (
        "1 service order (10.0%) took more than 24 h to be picked up or shipped"
    )
    slow = Finding(FindingKind.PICKUP_SLOW, 2, {**slow.values, "count": fmt.Count(2)})
    assert finding_text(slow, lang="en").title.startswith("2 service orders (10.0%)")


def test_values_are_shown_by_type_not_by_key_name() -> None:
    # Issue 13: a share named like hours is still a share; an untyped number is just a number.
    odd = Finding(FindingKind.TREND_UP, 2, {"mean_hours": fmt.Share(0.5), "change_share": 3})
    assert finding_text(odd, lang="en").title == (
        "Duration up on the previous period: — → 50.0% (3)"
    )


def test_every_short_board_stage_has_its_advice() -> None:
    # One SHORT_BOARD kind, the stage a value; the 维修 scene has its own processing advice.
    for stage in ("audit", "return_ship", "transit", "inbound", "process"):
        board = Finding(FindingKind.SHORT_BOARD, 3, {"stage": fmt.Stage(stage)})
        assert finding_text(board).advice == FINDINGS[f"short_board.{stage}"][2]
    repair = Finding(
        FindingKind.SHORT_BOARD, 3, {"stage": fmt.Stage("process"), "scene": fmt.Scene("维修")}
    )
    assert finding_text(repair).advice == FINDINGS["short_board.process.维修"][2]
    other = Finding(FindingKind.SHORT_BOARD, 3, {"stage": fmt.Stage("intervention")})
    assert finding_text(other).advice == FINDINGS["short_board"][2]


def test_command_line_and_workbook_strings_come_from_the_catalog() -> None:
    # Issue 13: metrics._LABELS, load.WARNING_LABELS and export.HEADERS live in text.LABELS.
    assert both("warning", "missing_apply_time") == "申请时间为空 (no apply_time)"
    assert both("cli", "holiday", form="{zh} {en}") == "春节不考核 holiday"
    assert both("warning", "a_new_kind") == "a_new_kind"  # unknown: itself
    assert label("xlsx", "service_id") == "服务单号"
    assert label("xlsx", "service_id", "en") == "Service id"
    assert label("xlsx", "stage_transit") == "逆向物流(小时)"  # JD's word, as everywhere else
