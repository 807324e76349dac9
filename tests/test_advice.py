# ruff: noqa: E501 -- exact Chinese sentences: CJK is double width, and a split sentence is hard to search for.
"""What the report advises and claims about JD (DOMAIN §6): the consumer warning judged on the
published 风向标 figure, the 60 h line as 提示线 (not a target), the 闪电退款 upper bound, SA 自动审核,
staffing from hours of the day, tomorrow without today's completions, data quality by kind.

Each case is a small hand-built store whose figures are computed by hand in the comments.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from factory import canonical, order

from aftersales_kit.diagnose import _warning, diagnose_store
from aftersales_kit.errors import Problem
from aftersales_kit.load import LoadReport
from aftersales_kit.model import MIN_STAFFING_APPLICATIONS, Diagnosis, FindingKind, FlashRefundCheck
from aftersales_kit.render import sections
from aftersales_kit.rules import load_rules
from aftersales_kit.text import finding_text
from aftersales_kit.window import Window

RULES = load_rules()
WINDOW = Window(start=date(2026, 3, 1), end=date(2026, 3, 30))
AS_OF = datetime(2026, 3, 31, 10, 0)
DAY = datetime(2026, 3, 10, 9, 0)
H = timedelta(hours=1)
BAD = {"star": 3.2, "aftersales_rank": 0.1, "dispute_rank": 0.15}


def store(rows: list[dict[str, object]], **kwargs: object) -> Diagnosis:
    return diagnose_store(
        canonical(rows), store_id="s1", window=WINDOW, rules=RULES, as_of=AS_OF, **kwargs
    )


def html(d: Diagnosis, *, lang: str = "zh") -> str:
    parts = [
        sections.kpi_cards(d, lang=lang),
        sections.stages(d, lang=lang),
        sections.what_if(d, lang=lang),
        sections.suggestions(d, lang=lang),
        sections.heatmap(d, lang=lang),
        sections.tomorrow(d, rules=RULES, lang=lang),
        sections.methodology(d, rules=RULES, lang=lang),
        sections.data_quality(d, lang=lang),
    ]
    return "".join(str(p.html) for p in parts)


# --- consumer warning -----------------------------------------------------------------------------


def test_the_published_figure_decides_the_duration_condition() -> None:
    # Ours 64.5 h, 风向标 58.3 h: JD judges on its own figure, so the warning is not triggered.
    published = _warning(64.5, observed=BAD, rules=RULES, published=58.3)
    assert (published.state, published.basis, published.duration_hours) == (
        "not_triggered",
        "published",
        58.3,
    )
    assert published.mean_over_line is False
    # Without it, ours decides, labelled 按本工具计算; the published figure over the line with every
    # other condition met is JD's own triggered state.
    ours = _warning(64.5, observed=BAD, rules=RULES)
    assert (ours.state, ours.basis) == ("triggered", "ours")
    over = _warning(55.0, observed=BAD, rules=RULES, published=61.0)
    assert (over.state, over.basis, over.duration_hours) == ("triggered", "published", 61.0)
    assert _warning(64.5, observed={}, rules=RULES, published=61.0).state == "cannot_judge"


def _slow_store() -> list[dict[str, object]]:
    # Two orders of 64.5 h: the mean is 64.5 h, over the 60 h line.
    return [
        order("W1", apply=DAY, stages=(30.0, 0, 0, 0, 34.5), service_type="仅退款"),
        order("W2", apply=DAY + 24 * H, stages=(20.0, 0, 0, 0, 44.5), service_type="仅退款"),
    ]


def test_a_published_figure_under_the_line_is_never_triggered_anywhere() -> None:
    from aftersales_kit.deliver import mail as deliver
    from aftersales_kit.deliver import push

    d = store(_slow_store(), observed=BAD, published_hours=58.3)
    assert d.kpis.mean_hours == pytest.approx(64.5)
    assert d.warning.state == "not_triggered"
    assert FindingKind.CONSUMER_WARNING not in {f.kind for f in d.findings}
    # Under the line by JD's own figure: the short board is not 紧急 either.
    board = next(f for f in d.findings if f.kind == FindingKind.SHORT_BOARD)
    assert board.severity == 2
    assert store(_slow_store(), observed=BAD).findings[0].severity == 3
    page = html(d)
    assert "已触发" not in page and "紧急" not in page
    assert "未触发：售后服务时长58.3 小时（风向标）未超过提示线60小时。" in page
    mail = deliver.render_text(d, lang="zh") + deliver.render_body(d, charts=[], lang="zh")
    context = deliver._context(d, lang="zh", store_name=None)
    assert context["warning"] == "" and context["warning_high"] is False
    assert "已触发" not in mail
    message = push.store_message(d, lang="zh")
    assert "已触发" not in message.markdown
    assert "消费者提示：未触发" in message.markdown


def test_triggered_from_our_hours_is_an_estimate_to_check_on_the_wind_vane() -> None:
    from aftersales_kit.deliver import mail as deliver
    from aftersales_kit.deliver import push

    d = store(_slow_store(), observed=BAD)
    assert (d.warning.state, d.warning.basis) == ("triggered", "ours")
    page = html(d)
    assert "按本工具时长满足提示条件（预计已触发），请在风向标核实" in page
    assert "预计已触发" in page and ">已触发<" not in page
    # The quoted text and the lifting rule are JD's to state; 排名率 explained once.
    assert "任一条件不再满足时解除" in page and page.count("以京东为准") >= 2
    assert page.count("排名率（按提示条件推断）：越低越差") == 1
    finding = next(f for f in d.findings if f.kind == FindingKind.CONSUMER_WARNING)
    assert finding.values["variant"] == "triggered_ours"
    assert finding_text(finding).title.startswith(
        "按本工具时长满足提示条件（预计已触发），请在风向标核实"
    )
    context = deliver._context(d, lang="zh", store_name=None)
    assert "预计已触发" in context["warning"] and "发给运营" in context["warning"]
    body = push.store_message(d, lang="zh").markdown
    assert "**预计已触发**" in body and "发给运营" in body


def test_nobody_is_told_to_run_a_command_line_flag() -> None:
    from aftersales_kit.deliver import mail as deliver
    from aftersales_kit.deliver import push

    d = store(_slow_store())  # no star, no ranks, no published figure: cannot be judged
    assert d.warning.state == "cannot_judge"
    context = deliver._context(d, lang="zh", store_name=None)
    texts = [html(d), str(context), push.store_message(d, lang="zh").markdown]
    for text in texts:
        assert "--" + "star" not in text and "--published-hours" not in text
    assert (
        "请把风向标上的店铺星级、售后服务星级排名率和交易纠纷星级排名率发给运营"
        in context["warning"]
    )
    # 排名率 is explained once in the report and once in the mail (low is bad).
    assert texts[0].count("越低越差") == 1
    assert deliver.render_text(d, lang="zh").count("越低越差") == 1


# --- the 60 h line and the target ---------------------------------------------------------------


def test_the_60_hour_line_is_a_warning_line_and_a_target_only_when_set() -> None:
    rows = [
        order("L1", apply=DAY, stages=(40.0, 0, 0, 0, 40.0), service_type="仅退款"),
        order("L2", apply=DAY + 24 * H, stages=(10.0, 0, 0, 0, 5.0), service_type="仅退款"),
    ]
    d = store(rows)  # mean 47.5 h, one order over 60 h
    assert d.target_given is False
    page = html(d)
    assert "提示线60小时（京东消费者提示条件之一，不是考核目标" in page
    assert "目标60" not in page
    # Under the line with no open order over a line: nothing is 紧急.
    assert all(f.severity < 3 for f in d.findings)
    assert "紧急" not in page
    own = store(rows, target_hours=48.0)
    assert own.target_given is True
    assert "目标48小时，高出" not in html(own) and "目标48小时，低于0.5 小时" in html(own)


# --- 闪电退款 ---------------------------------------------------------------------------------------


def _flash_rows(*, flash_gap: float) -> list[dict[str, object]]:
    """R1 pickup return (60 h, picked up at 20 h), R2 customer-shipped return (80 h), R3 pickup
    return without a pickup time (40 h), F1 a 闪退 order processed ``flash_gap`` h after pickup."""
    return [
        order("R1", apply=DAY, stages=(2, 18, 0, 30, 10), approve_result="上门取件",
              return_method="上门取件"),
        order("R2", apply=DAY + 24 * H, stages=(5, 25, 0, 30, 20), approve_result="客户发货",
              return_method="客户发货"),
        order("R3", apply=DAY + 48 * H, stages=(10, 0, 0, 20, 10), return_method="上门取件"),
        order("F1", apply=DAY + 72 * H, stages=(1, 10, 0, 0, flash_gap),
              approve_result="上门取件", flash_refund=True),
    ]  # fmt: skip


def test_flash_refund_upper_bound_stops_pickup_returns_at_pickup() -> None:
    d = store(_flash_rows(flash_gap=0.5))
    # actual (60 + 80 + 40 + 11.5) / 4 = 47.875; R1 stops at its pickup (20 h):
    # (20 + 80 + 40 + 11.5) / 4 = 37.875, −10.0 h over n = 1 order.
    assert d.kpis.mean_hours == pytest.approx(47.875)
    assert d.flash_refund == FlashRefundCheck(candidates=1, flash_rows=1, at_pickup=1)
    row = d.what_if.filter(pl.col("scenario") == "flash_refund_at_pickup").row(0, named=True)
    assert (row["n"], row["scene"]) == (1, "退货")
    assert row["mean_hours"] == pytest.approx(37.875)
    assert row["delta_hours"] == pytest.approx(-10.0)
    page = str(sections.what_if(d, lang="zh").html)
    assert (
        "若1单有取件时间的上门取件退货都在取件时停止计时，平均时长最多降到37.9 小时（−10.0 小时）"
        in page
    )
    assert "这是上限" in page and "资格" in page


def test_flash_refund_estimate_dropped_when_the_data_does_not_support_it() -> None:
    # F1's first processing is 3 h after its pickup: the 闪退 rows do not stop at pickup.
    d = store(_flash_rows(flash_gap=3.0))
    assert d.flash_refund is not None and d.flash_refund.reason == "not_at_pickup"
    assert not d.what_if.filter(pl.col("scenario") == "flash_refund_at_pickup").height
    assert FindingKind.FLASH_REFUND not in {f.kind for f in d.findings}
    page = str(sections.what_if(d, lang="zh").html)
    assert "闪电退款测算未列出：数据中有取件时间的闪退服务单1单，只有0单" in page


# --- SA 自动审核 -------------------------------------------------------------------------------------


def test_sa_candidates_are_refund_only_and_refused_parcels_never_rejections() -> None:
    rows = [
        order("S1", apply=DAY, stages=(70, 0, 0, 0, 2), service_type="仅退款"),
        order("S2", apply=DAY + H, stages=(30, 0, 0, 0, 30), reason="拒收"),
        # rejected at audit: a rejection is never an SA candidate
        order("S3", apply=DAY + 2 * H, stages=(30, 0, 0, 0, 0), status="审核关闭"),
        order("S4", apply=DAY + 3 * H, stages=(2, 0, 0, 0, 2), reason="七天无理由"),
    ]
    d = store(rows)
    assert d.sa_candidates == 2
    sa = next(f for f in d.findings if f.kind == FindingKind.SA_TOOL)
    text = finding_text(sa)
    assert text.title == "重复性审核（仅退款、拒收件）2单，占50.0%"
    assert "自动审核规则" in text.advice and "不要批量驳回" in text.advice


# --- staffing ---------------------------------------------------------------------------------------


def _apps(hour: int, n: int, wait: float, *, first: int) -> list[dict[str, object]]:
    """``n`` applications at ``hour`` on successive days from March 2, each audited after
    ``wait`` hours and processed an hour later."""
    return [
        order(f"H{hour}-{i}", apply=datetime(2026, 3, 2 + i % 20, hour, first),
              stages=(wait, 0, 0, 0, 1), service_type="仅退款")
        for i in range(n)
    ]  # fmt: skip


def test_staffing_advice_from_hours_of_the_day_never_from_a_small_cell() -> None:
    # 20 applications at 22:00 wait 10 h, 25 at 10:00 wait 1 h; 5 at 23:00 on one Friday wait
    # 70 h: a weekday × hour cell of 5 must not drive the advice.
    rows = _apps(22, 20, 10.0, first=0) + _apps(10, 25, 1.0, first=5)
    rows += [
        order(f"F{i}", apply=datetime(2026, 3, 6, 23, i), stages=(70, 0, 0, 0, 1),
              service_type="仅退款")
        for i in range(5)
    ]  # fmt: skip
    d = store(rows)
    assert MIN_STAFFING_APPLICATIONS == 20
    assert d.staffing is not None
    assert (d.staffing.slow_hours, d.staffing.slow_median_hours) == ((22,), 10.0)
    assert (d.staffing.fast_hours, d.staffing.fast_median_hours) == ((10,), 1.0)
    assert d.staffing.hours_judged == 2 and d.staffing.night is True
    advice = str(sections.heatmap(d, lang="zh").html).split('class="report-callout">')[1]
    assert "23:00–24:00" not in advice and "70.0" not in advice
    assert advice.startswith(
        "按申请时段（一周各天合计，只看申请≥20单的时段）：22:00–23:00申请的审核中位数为10.0 小时，"
        "10:00–11:00申请的为1.0 小时——夜间申请要等到第二天早班。"
    )


def test_no_staffing_figures_from_five_applications() -> None:
    rows = [
        order(f"F{i}", apply=datetime(2026, 3, 6, 23, i), stages=(70, 0, 0, 0, 1),
              service_type="仅退款")
        for i in range(5)
    ]  # fmt: skip
    d = store(rows)
    assert d.staffing is None
    staffing = next(f for f in d.findings if f.kind == FindingKind.AUDIT_PEAK_STAFFING)
    assert staffing.values["variant"] == "few"
    assert "中位数" not in finding_text(staffing).advice
    assert "没有申请≥20单的时段" in str(sections.heatmap(d, lang="zh").html)


def test_night_applications_wait_for_the_morning_shift() -> None:
    rows = _apps(22, 20, 10.0, first=0) + _apps(21, 20, 11.0, first=1)
    rows += _apps(10, 25, 1.0, first=5)
    d = store(rows)
    assert d.staffing is not None and d.staffing.slow_hours == (21, 22)
    assert d.staffing.night is True
    assert "夜间申请要等到第二天早班" in str(sections.heatmap(d, lang="zh").html)


# --- tomorrow ---------------------------------------------------------------------------------------


def test_tomorrow_says_today_is_missing_and_what_closing_long_open_orders_would_do() -> None:
    rows = [
        order("T1", apply=DAY, stages=(10, 0, 0, 0, 10), service_type="仅退款"),
        order("T2", apply=DAY + 24 * H, stages=(20, 0, 0, 0, 20), service_type="仅退款"),
        # open and unaudited since 2026-03-28 10:00: 72 h elapsed at the report time
        {"service_id": "O1", "store_id": "s1", "service_type": "仅退款", "status": "待审核",
         "apply_time": datetime(2026, 3, 28, 10, 0)},
    ]  # fmt: skip
    d = store(rows)
    tm = d.tomorrow
    assert tm is not None and tm.mean_hours == pytest.approx(30.0)
    # closed today at 72 h it enters tomorrow's window: (20 + 40 + 72) / 3 = 44.0
    assert (tm.open_over_line, tm.mean_if_closed) == (1, pytest.approx(44.0))
    page = str(sections.tomorrow(d, rules=RULES, lang="zh").html)
    assert "不含今天完结的服务单（尚未在数据中）" in page
    assert (
        "若今天完结已超60小时的1单未完结服务单（按当前已耗时计），明天的平均时长将为44.0 小时"
        in page
    )


# --- data quality ---------------------------------------------------------------------------------


def test_load_warnings_itemised_by_kind() -> None:
    problem = Problem(file="a.xlsx", row=3, column="服务单号", value="1", message="x")
    report = LoadReport(
        files=[],
        rows=2,
        duplicates_dropped=0,
        bad_rows_dropped=0,
        stores={"s1": 2},
        errors=[],
        warnings=[problem],
        warning_counts={"unknown_value": 39, "service_id_in_two_stores": 33_300},
    )
    d = store(_slow_store(), load_report=report)
    assert d.data_quality.load_warning_counts == (
        ("service_id_in_two_stores", 33_300),
        ("unknown_value", 39),
    )
    page = str(sections.data_quality(d, lang="zh").html)
    assert "读取时：同一服务单号出现在多个店铺（全部导入文件）" in page and "33,300" in page
    assert "读取时的警告" not in page and "33,339" not in page


# --- every rendered output of the demo ------------------------------------------------------------

#: Words no report, mail or push may carry (issue 17): 极速审核 is not a JD tool, 闪电退款 does not
#: refund at audit, and a repair's 处理结果 is never recorded early.
FORBIDDEN = (
    "极速审核",
    "审核时即退款",
    "立即登记首次处理",
    "登记首次处理（开始维修",
    "express audit",
    "refunded at audit",
    "lightning refund",
    "Lightning refund",
    "--star",
    "--published-hours",
)


@pytest.fixture(scope="module")
def demo_outputs() -> dict[str, str]:
    from aftersales_kit.deliver import mail as deliver
    from aftersales_kit.deliver import push
    from aftersales_kit.deliver.xlsx import action_frames
    from aftersales_kit.demo import simulate as demo
    from aftersales_kit.diagnose import diagnose

    end = date(2026, 10, 31)
    frame = demo.generate(stores=3, orders=900, end=end)
    window = Window(start=end - timedelta(days=29), end=end)
    as_of = datetime(2026, 11, 1, 9)
    found = diagnose(frame, window=window, rules=RULES, as_of=as_of)
    found |= {
        f"{sid}-published": d
        for sid, d in diagnose(
            frame, window=window, rules=RULES, as_of=as_of, published_hours=58.3, observed=BAD
        ).items()
    }
    out: dict[str, str] = {}
    for key, d in found.items():
        for lang in ("zh", "en"):
            page = [html(d, lang=lang)]
            page += [
                str(f(d, lang=lang).html)
                for f in (sections.alerts, sections.teams, sections.classes, sections.reconcile)
            ]
            out[f"{key} report {lang}"] = "".join(page)
            out[f"{key} mail {lang}"] = deliver.render_text(d, lang=lang) + deliver.render_body(
                d, charts=[], lang=lang
            )
            out[f"{key} push {lang}"] = push.store_message(d, lang=lang).markdown
            out[f"{key} xlsx {lang}"] = "".join(
                str(f.rows()) for f in action_frames(d, lang=lang).values()
            )
    out["estate push"] = push.estate_message(list(found.values()), lang="zh").markdown
    return out


def test_no_output_of_the_demo_names_a_wrong_lever(demo_outputs: dict[str, str]) -> None:
    hits = [(key, word) for key, text in demo_outputs.items() for word in FORBIDDEN if word in text]
    assert not hits


def test_a_published_figure_under_the_line_says_triggered_nowhere(
    demo_outputs: dict[str, str],
) -> None:
    published = {k: v for k, v in demo_outputs.items() if "-published " in k}
    assert published
    said = [
        key
        for key, text in published.items()
        if "已触发" in text or "riggered" in text.replace("ot triggered", "")
    ]
    assert not said


# --- wording ----------------------------------------------------------------------------------------


def test_tomorrows_movers_sheet_says_move_not_reason() -> None:
    from aftersales_kit.deliver.xlsx import action_frames

    rows = [
        # completed on the window's first day: it leaves the window tomorrow
        order("M1", apply=datetime(2026, 2, 27, 9), stages=(40, 0, 0, 0, 8), service_type="仅退款"),
        order("M2", apply=DAY, stages=(10, 0, 0, 0, 10), service_type="仅退款"),
    ]
    d = store(rows)
    sheet = action_frames(d, lang="zh")["明天影响最大的服务单"]
    assert "变动" in sheet.columns and "申请原因" not in sheet.columns
    assert sheet["变动"].to_list() == ["移出周期"]


def test_intervention_hidden_at_zero_and_only_missing_columns_named() -> None:
    rows = [
        order("P1", apply=DAY, stages=(2, 20, 0, 30, 10), approve_result="上门取件"),
        order("P2", apply=DAY + H, stages=(2, 0, 0, 0, 10), service_type="仅退款"),
    ]
    d = store(rows)
    stages_text = str(sections.stages(d, lang="zh").html)
    assert "京东介入" not in stages_text
    alerts_text = str(sections.alerts(d, lang="zh").html)
    # Pickup and inbound times exist: only the tracking update and the sign time are missing.
    assert "数据中没有物流更新时间、签收时间，这些预警无法计算" in alerts_text
    assert "数据中没有取件时间" not in alerts_text and "入库时间，" not in alerts_text


def test_scene_named_door_to_door_or_offline_replacement() -> None:
    rows = [order("X1", apply=DAY, stages=(2, 0, 0, 0, 20), approve_result="上门换新")]
    page = str(sections.breakdown(store(rows), lang="zh").html)
    assert "上门换新/线下换新" in page
    en = str(sections.breakdown(store(rows), lang="en").html)
    assert "door-to-door / offline replacement (上门换新/线下换新)" in en


def test_open_order_summary_counts_add_up() -> None:
    rows = [
        order("Q1", apply=DAY, stages=(2, 5, 0, 5, 10), approve_result="上门取件"),
        # open, unaudited for 2 h at the report time: due in 22 h (within the horizon)
        {"service_id": "Q2", "store_id": "s1", "service_type": "仅退款", "status": "待审核",
         "apply_time": AS_OF - 2 * H},
        # open, picked up 1 h ago: 3 days to reach the warehouse, due after the horizon
        {"service_id": "Q3", "store_id": "s1", "service_type": "退货", "status": "待收货",
         "return_method": "上门取件", "approve_result": "上门取件", "apply_time": AS_OF - 3 * H,
         "first_audit_time": AS_OF - 2 * H, "pickup_time": AS_OF - 1 * H},
    ]  # fmt: skip
    d = store(rows)
    split = d.open_split()
    assert split == {"over": 0, "soon": 1, "later": 1, "no_line": 0, "not_counted": 0, "long": 0}
    assert d.open_at_risk.height == 2
    page = str(sections.alerts(d, lang="zh").html)
    # 0 over + 1 within 24 h + 1 later + 0 without a line + 0 not counted = 2 (E18)
    assert (
        "未完结服务单2单：超预警线0单（立即处理），1单将在24小时内到预警线，另有1单24小时后到期，"
        "0单当前环节无预警线，0单不计入考核" in page
    )
