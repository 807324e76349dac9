"""The demo generator: determinism, the real JD shape (京麦 xlsx, stores.toml), the stores'
characters, every DOMAIN §3 scene, JD's own hours, dirty downloads, ensure_demo and the CLI."""

from __future__ import annotations

import re
import threading
import tomllib
import zipfile
from datetime import date, datetime, timedelta
from fnmatch import fnmatch
from pathlib import Path

import fastexcel
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from aftersales_kit.cli import main
from aftersales_kit.demo import simulate as demo
from aftersales_kit.errors import UsageError
from aftersales_kit.schema import COLUMNS, KNOWN_VALUES

END = date(2025, 11, 30)  # the 180 days before include 618 and 双11
EXPORT = datetime(2025, 12, 1)  # end + 1 day 00:00: nothing can happen after it
OPEN_STATUSES = {"待审核", "待客户反馈", "待收货", "待处理", "待用户确认"}
DONE_STATUSES = {"完成", "取消", "审核关闭"}
REFUND_FAMILY = ["仅退款", "已收货退款", "未收货退款", "售前退款"]
AUDIT_ENDED = ["取消", "拒绝", "直赔/补发"]
DT_COLUMNS = [c for c, t in COLUMNS.items() if t == pl.Datetime("us")]
#: Row 2 of the 京麦 export, left to right (A2 is 服务单号, under A1 申请信息).
JINGMAI_HEADERS = [
    "服务单号",
    "订单号",
    "客户期望",
    "服务单状态",
    "一级申请原因",
    "二级申请原因",
    "客户问题描述",
    "返回方式",
    "售后申请时间",
    "订单类型",
    "出库状态",
    "申请时订单状态",
    "下单账号",
    "商品编号",
    "商品名称",
    "商品金额",
    "商品数量",
    "退款金额",
    "审核结果",
    "审核时间",
    "审核意见",
    "审核人姓名",
    "运单号",
    "运费金额",
    "快递公司",
    "取件时间",
    "商家收货时间",
    "处理结果",
    "处理人",
    "自动审核类型",
    "是否闪退订单",
    "商家首次审核时间",
    "商家首次处理时间",
    "售后整体时长(H)",
    "省",
    "市",
]


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return demo.generate(stores=4, orders=500, end=END, seed=7)


@pytest.fixture(scope="module")
def big() -> pl.DataFrame:
    """Enough orders for the rare cases (JD interventions)."""
    return demo.generate(stores=6, orders=1500, end=END, seed=11)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> demo.DemoFiles:
    return demo.write_demo(tmp_path_factory.mktemp("demo"), stores=4, orders=300, end=END, seed=3)


def hours(a: str, b: str) -> pl.Expr:
    return (pl.col(b) - pl.col(a)).dt.total_seconds() / 3600


def with_scene(df: pl.DataFrame) -> pl.DataFrame:
    """DOMAIN §3 scene and clock end, computed independently of the generator."""
    method, result = pl.col("return_method"), pl.col("process_result")
    result_or_method = pl.col("approve_result")
    scene = (
        pl.when(pl.col("status") == "取消")
        .then(pl.lit("取消"))
        .when(
            pl.col("status").is_in(["审核关闭", "审核不通过", "拒绝"])
            | result_or_method.is_in(["审核不通过", "拒绝"])
        )
        .then(pl.lit("拒绝"))
        .when(
            method.str.starts_with("直赔")
            | (method == "补发商品")
            | (pl.col("service_type") == "补发商品")
        )
        .then(pl.lit("直赔/补发"))
        .when(pl.col("flash_refund") | (method == "闪电退款"))
        .then(pl.lit("闪电退款"))
        .when(method.is_in(["上门换新", "线下换新"]) | result.is_in(["上门换新", "线下换新"]))
        .then(pl.lit("线下换新"))
        .when(result == "返修换新")
        .then(pl.lit("返修换新"))
        .when(pl.col("service_type").is_in(REFUND_FAMILY))
        .then(pl.lit("仅退款"))
        .otherwise(pl.col("service_type"))
    )
    clock_end = (
        pl.when(pl.col("scene").is_in(AUDIT_ENDED))
        .then(pl.col("first_audit_time"))
        .otherwise(pl.col("first_process_time"))
    )
    overlap = (
        pl.min_horizontal("intervention_end", "clock_end")
        - pl.max_horizontal("intervention_start", "apply_time")
    ).dt.total_seconds() / 3600
    subtract = (
        pl.when(~pl.col("scene").is_in(AUDIT_ENDED) & pl.col("jd_intervened"))
        .then(overlap.clip(0))
        .otherwise(0)
        .fill_null(0)
    )
    return (
        df.with_columns(scene=scene)
        .with_columns(clock_end=clock_end)
        .with_columns(gross=hours("apply_time", "clock_end"))
        .with_columns(ours=pl.col("gross") - subtract)
    )


def counted(df: pl.DataFrame, end: date) -> pl.DataFrame:
    """Orders counted in the 30-day window ending at ``end`` (DOMAIN §3, without holidays)."""
    return with_scene(df).filter(
        pl.col("complete_time").dt.date().is_between(end - timedelta(days=29), end),
        pl.col("apply_time").dt.date() >= end - timedelta(days=179),
        pl.col("ours") >= 0,
    )


def window_means(df: pl.DataFrame, end: date) -> dict[str, float]:
    rows = counted(df, end).group_by("store_id").agg(pl.col("ours").mean()).rows()
    return dict(rows)


def raw_sheet(path: Path) -> pl.DataFrame:
    """Every cell of the first sheet as text, header rows included."""
    sheet = fastexcel.read_excel(path).load_sheet(0, header_row=None, dtypes="string")
    return sheet.to_polars()


def sheet_xml(path: Path) -> str:
    with zipfile.ZipFile(path) as book:
        return book.read("xl/worksheets/sheet1.xml").decode()


def data_rows(path: Path) -> pl.DataFrame:
    """The data rows (from row 3) named by the row-2 headers, 服务单号 for column A."""
    raw = raw_sheet(path)
    names = ["服务单号", *(raw.row(1)[1:])]
    return raw.slice(2).rename(dict(zip(raw.columns, names, strict=True)))


# --- determinism and schema -----------------------------------------------------------------------


def test_same_seed_same_frame_and_other_seed_differs(frame: pl.DataFrame) -> None:
    assert_frame_equal(demo.generate(stores=4, orders=500, end=END, seed=7), frame)
    other = demo.generate(stores=4, orders=500, end=END, seed=8)
    assert not other.equals(frame)


def test_schema_is_exactly_canonical(frame: pl.DataFrame) -> None:
    assert list(frame.schema.items()) == list(COLUMNS.items())


def test_store_ids_names_sizes_and_ids(frame: pl.DataFrame) -> None:
    per_store = frame.group_by("store_id", "store_name").len().sort("store_id").rows()
    # orders × each store's scale (1.0, 0.8, 1.2, 0.7)
    assert per_store == [
        ("1000101", "示例旗舰店", 500),
        ("1000102", "优品数码专营店", 400),
        ("1000103", "家居生活馆", 600),
        ("1000104", "母婴优选店", 350),
    ]
    assert frame["service_id"].is_unique().all()
    assert frame["service_id"].str.contains(r"^\d{10}$").all()
    assert frame["order_id"].str.contains(r"^(\d{12}|\d{16})$").all()
    assert frame["order_id"].str.len_chars().eq(16).any()  # beyond Excel's 15 digits


def test_many_stores_get_unique_names() -> None:
    profiles = demo.store_profiles(60, seed=3)
    assert len({p.name for p in profiles}) == 60
    assert all(0.5 <= p.scale <= 1.5 for p in profiles)
    assert demo.store_id(59) == "1000160"


def test_history_is_180_days_ending_at_end(frame: pl.DataFrame) -> None:
    applied = frame["apply_time"].dt.date()
    assert applied.min() == END - timedelta(days=179)
    assert applied.max() == END
    for column in DT_COLUMNS:
        assert (frame[column].drop_nulls() < EXPORT).all(), column


def test_default_end_is_yesterday_and_default_shape() -> None:
    df = demo.generate()
    from aftersales_kit.window import CHINA

    yesterday = datetime.now(CHINA).date() - timedelta(days=1)  # JD's days are China days
    assert df["apply_time"].max().date() == yesterday
    assert df["store_id"].n_unique() == 12
    assert df.filter(pl.col("store_id") == "1000101").height == 3000
    means = window_means(df, yesterday)
    assert 40 <= means["1000101"] <= 80  # an ordinary store with visible issues
    assert means["1000104"] < 30 < means["1000101"] < means["1000102"]


def test_bad_sizes_and_end_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="--stores"):
        demo.generate(stores=0)
    with pytest.raises(UsageError, match="--orders"):
        demo.generate(orders=0)
    with pytest.raises(UsageError, match="YYYY-MM-DD"):
        demo.generate(end="30.11.2025")


# --- JD vocabulary --------------------------------------------------------------------------------


def test_service_type_shares(frame: pl.DataFrame) -> None:
    shares = dict(frame["service_type"].value_counts(normalize=True).rows())
    # A current export's 客户期望: 已收货退款 / 未收货退款 / 售前退款, never the API's 仅退款.
    refunds = ["已收货退款", "未收货退款", "售前退款"]
    assert set(shares) == {"退货", "换货", "维修", "补发商品", *refunds}
    assert 0.40 <= shares["退货"] <= 0.62
    assert 0.12 <= sum(shares[t] for t in refunds) <= 0.30
    assert 0.45 <= shares["已收货退款"] / sum(shares[t] for t in refunds) <= 0.70
    assert 0.08 <= shares["换货"] <= 0.25
    assert 0.04 <= shares["维修"] <= 0.18
    assert 0.01 <= shares["补发商品"] <= 0.05


def test_enumerations_are_jd_names(frame: pl.DataFrame) -> None:
    for column in ("service_type", "status", "return_method", "approve_result", "process_result"):
        assert set(frame[column].drop_nulls()) <= KNOWN_VALUES[column], column
    assert set(frame["return_method"].drop_nulls()) == {
        "上门取件",
        "客户发货",
        "客户送货",
        "闪电退款",
        "上门换新",
        "退款不退货",
        "补发商品",
        "直赔积分",
        "直赔余额",
        "直赔优惠券",
        "直赔京豆",
        "直赔商品",
    }
    assert set(frame["approve_result"].drop_nulls()) == {"审核通过", "审核不通过"}
    assert set(frame["process_result"].drop_nulls()) == {
        "退货",
        "换新",
        "换良",
        "线下换新",
        "维修",
        "返修换新",
        "原返",
        "赔付",
    }
    assert set(frame["status"]) == OPEN_STATUSES | DONE_STATUSES
    assert frame["flash_refund"].null_count() == 0
    flash = (frame["return_method"] == "闪电退款").fill_null(False)
    assert frame["flash_refund"].equals(flash, check_names=False)
    rejected = frame.filter(pl.col("approve_result") == "审核不通过")
    assert set(rejected["status"]) == {"审核关闭"}  # 审核不通过 is not a POP status
    not_audited = frame.filter(pl.col("first_audit_time").is_null())
    assert not_audited["approve_result"].null_count() == not_audited.height


def test_reasons_descriptions_and_people(frame: pl.DataFrame) -> None:
    assert {"七天无理由", "质量问题", "物流问题", "少件/漏发", "发错货"} <= set(frame["reason"])
    pairs = set(frame.select("reason", "reason_detail").unique().rows())
    assert {("质量问题", "商品瑕疵"), ("质量问题", "性能故障"), ("物流问题", "拒收")} <= pairs
    assert ("七天无理由", "尺码不合适") in pairs  # the baby store's own fit reason
    described = frame["description"].drop_nulls()
    assert 0.5 < described.len() / frame.height < 0.8
    with_phone = described.filter(described.str.contains(r"1[3-9]\d{9}"))
    assert 0 < with_phone.len() < 0.05 * frame.height
    assert frame["buyer_account"].str.contains(r"^jd_[0-9a-f]{12}$").all()
    assert frame["customer_phone"].str.contains(r"^1[3-9]\d{9}$").all()
    assert frame["customer_name"].str.len_chars().is_between(2, 3).all()
    assert frame["address"].str.contains(r"^.{2,8}[省市区].*[区县].+号.+小区\d+栋\d单元\d+$").all()
    regions = {(r[0], r[1]) for r in demo.REGIONS}
    assert set(frame.select("province", "city").unique().rows()) <= regions
    assert (frame["address"].str.starts_with(frame["province"])).all()
    assert frame["auditor"].drop_nulls().str.contains("^(客服|售后|系统自动审核)").all()
    processed = frame.filter(pl.col("first_process_time").is_not_null())
    assert processed["processor"].null_count() == 0
    assert set(processed.filter("flash_refund")["processor"]) == {"系统自动退款"}
    assert frame.filter(pl.col("first_process_time").is_null())["processor"].null_count() == (
        frame["first_process_time"].null_count()
    )


def test_amounts(frame: pl.DataFrame) -> None:
    assert (frame["amount"] > 0).all()
    refunded = frame.filter(pl.col("refund_amount").is_not_null())
    assert (refunded["refund_amount"] <= refunded["amount"]).all()
    returns = frame.filter(pl.col("service_type") == "退货", pl.col("return_method") == "上门取件")
    approved = returns.filter(pl.col("approve_result") == "审核通过", pl.col("status") != "取消")
    assert (approved["refund_amount"] == approved["amount"]).all()
    balance = frame.filter(pl.col("return_method") == "直赔余额", pl.col("status") == "完成")
    assert (balance["refund_amount"] < balance["amount"]).all()


# --- statistical shape ----------------------------------------------------------------------------


def test_evening_peak(frame: pl.DataFrame) -> None:
    hour = frame["apply_time"].dt.hour()
    evening_per_hour = hour.is_between(19, 22).sum() / 4
    daytime_per_hour = hour.is_between(9, 18).sum() / 10
    assert evening_per_hour > 1.2 * daytime_per_hour


def test_mondays_busier_than_sundays(frame: pl.DataFrame) -> None:
    weekday = frame["apply_time"].dt.weekday()
    assert (weekday == 1).sum() > 1.2 * (weekday == 7).sum()


def test_promotions_above_baseline(frame: pl.DataFrame) -> None:
    day = frame["apply_time"].dt.date()

    def per_day(lo: date, hi: date) -> float:
        return day.is_between(lo, hi).sum() / ((hi - lo).days + 1)

    june = per_day(date(2025, 6, 4), date(2025, 6, 18))  # the history starts on June 4
    after_618 = per_day(date(2025, 6, 19), date(2025, 6, 25))
    double11 = per_day(date(2025, 11, 1), date(2025, 11, 11))
    after_1111 = per_day(date(2025, 11, 12), date(2025, 11, 18))
    baseline = per_day(date(2025, 7, 1), date(2025, 9, 30))
    assert june > 1.15 * baseline
    assert double11 > 1.15 * baseline
    assert after_618 > june and after_1111 > double11  # the burst of returns after the peak day


def test_store_characters(frame: pl.DataFrame) -> None:
    per_store = (
        frame.group_by("store_id")
        .agg(
            audit=hours("apply_time", "first_audit_time").mean(),
            flash=pl.col("flash_refund").mean(),
        )
        .sort("store_id")
    )
    audit = dict(per_store.select("store_id", "audit").rows())
    assert max(audit, key=audit.__getitem__) == "1000102"  # understaffed: the slowest audits
    assert audit["1000102"] > 30
    assert min(audit, key=audit.__getitem__) == "1000104"  # excellent
    flash = dict(per_store.select("store_id", "flash").rows())
    assert max(flash, key=flash.__getitem__) == "1000104"  # refunds at pickup
    median = dict(
        frame.group_by("store_id").agg(hours("apply_time", "first_audit_time").median()).rows()
    )
    assert median["1000104"] < 1.0 < median["1000101"]
    inbound = frame.filter(pl.col("store_id") == "1000103").with_columns(
        h=hours("sign_time", "inbound_time"), late=pl.col("sign_time") >= datetime(2025, 11, 1)
    )
    last_month = inbound.filter("late")["h"].mean()
    before = inbound.filter(~pl.col("late"))["h"].mean()
    assert last_month > 24 > 12 > before  # the warehouse backlog of the last month
    means = window_means(frame, END)
    assert means["1000104"] == min(means.values())
    assert means["1000102"] == max(means.values())


def test_audits_slower_at_night_and_weekends(frame: pl.DataFrame) -> None:
    one = frame.filter(pl.col("store_id") == "1000101", pl.col("auditor") != "系统自动审核")
    audit = one.with_columns(
        h=hours("apply_time", "first_audit_time"),
        hour=pl.col("apply_time").dt.hour(),
        weekend=pl.col("apply_time").dt.weekday() >= 6,
    )
    night = audit.filter(pl.col("hour") >= 21)["h"].median()
    morning = audit.filter(pl.col("hour").is_between(9, 15), ~pl.col("weekend"))["h"].median()
    weekend = audit.filter(pl.col("weekend"))["h"].median()
    assert night > 2 * morning
    assert weekend > morning


def test_spring_festival_audits_wait() -> None:
    df = demo.generate(stores=2, orders=800, end=date(2026, 3, 31), seed=5)
    audit = df.with_columns(
        h=hours("apply_time", "first_audit_time"),
        festival=pl.col("apply_time").is_between(
            datetime(2026, 2, 12), datetime(2026, 2, 26), closed="left"
        ),
    ).filter(pl.col("auditor") != "系统自动审核")
    festival = audit.filter("festival")["h"].median()
    assert festival > 3 * audit.filter(~pl.col("festival"))["h"].median()


# --- scenes, clock ends and JD's hours ------------------------------------------------------------


def test_every_scene_of_domain_3_occurs(frame: pl.DataFrame) -> None:
    scenes = with_scene(frame)
    counts = dict(scenes["scene"].value_counts().rows())
    assert set(counts) == {
        "取消",
        "拒绝",
        "直赔/补发",
        "闪电退款",
        "线下换新",
        "返修换新",
        "仅退款",
        "退货",
        "换货",
        "维修",
    }
    assert min(counts.values()) >= 10
    direct = scenes.filter(pl.col("scene") == "直赔/补发")
    assert {"补发商品", "直赔余额", "直赔商品"} <= set(direct["return_method"])
    offline = scenes.filter(pl.col("scene") == "线下换新")
    assert {"上门换新", "上门取件"} <= set(offline["return_method"])  # by 返回方式 or 处理结果
    assert "线下换新" in set(offline["process_result"])
    refund_only = scenes.filter(pl.col("scene") == "仅退款")
    assert set(refund_only["service_type"]) == {"已收货退款", "未收货退款", "售前退款"}
    assert set(refund_only["return_method"].drop_nulls()) == {"退款不退货"}
    cancelled = frame.filter(pl.col("status") == "取消")
    assert cancelled["first_audit_time"].null_count() > 0  # cancelled before audit
    assert cancelled["first_audit_time"].drop_nulls().len() > 0


def test_interventions_and_feedback_rounds(frame: pl.DataFrame, big: pl.DataFrame) -> None:
    jd = big.filter("jd_intervened")
    with_interval = jd.filter(pl.col("intervention_end").is_not_null())
    assert with_interval.height > 0
    assert (with_interval["intervention_end"] > with_interval["intervention_start"]).all()
    assert jd.filter(pl.col("intervention_start").is_null()).height > 0  # flagged, no interval
    no_jd = big.filter(~pl.col("jd_intervened"))
    assert no_jd["intervention_start"].null_count() == no_jd.height
    assert set(frame["feedback_rounds"]) == {0, 1, 2, 3}
    first_pass = (frame["feedback_rounds"] == 0).mean()
    assert 0.6 < first_pass < 0.95


def test_complete_time_is_the_clock_end(frame: pl.DataFrame) -> None:
    done = with_scene(frame.filter(pl.col("complete_time").is_not_null()))
    with_end = done.filter(pl.col("clock_end").is_not_null())
    assert with_end["complete_time"].equals(with_end["clock_end"], check_names=False)
    # Only a cancellation before the audit has a completion without a clock end.
    no_end = done.filter(pl.col("clock_end").is_null())
    assert set(no_end["status"]) == {"取消"}
    assert no_end["first_audit_time"].null_count() == no_end.height
    assert (with_end["clock_end"] >= with_end["apply_time"]).all()
    # The clock stopped but the order goes on: compensation still to pay, replacement en route.
    assert DONE_STATUSES | {"待用户确认"} <= set(done["status"])
    assert set(done["status"]) <= DONE_STATUSES | {"待处理", "待用户确认"}
    pending = done.filter(pl.col("status") == "待处理")
    assert set(pending["scene"]) <= {"直赔/补发"}
    refunds = done.filter(pl.col("scene") == "仅退款", pl.col("status") == "完成")
    assert refunds["pickup_time"].null_count() == refunds.height  # nothing to send back
    rstart = pl.coalesce("pickup_time", "customer_ship_time")
    assert frame.filter(pl.col("sign_time") < rstart).height <= 0.01 * frame.height


def test_last_audit_is_never_before_the_first(frame: pl.DataFrame) -> None:
    audited = frame.filter(pl.col("first_audit_time").is_not_null())
    assert audited["last_audit_time"].null_count() == 0
    assert (audited["last_audit_time"] >= audited["first_audit_time"]).all()
    later = (audited["last_audit_time"] > audited["first_audit_time"]).mean()
    assert 0.05 < later < 0.25
    assert frame.filter(pl.col("first_audit_time").is_null())["last_audit_time"].null_count() == (
        frame["first_audit_time"].null_count()
    )


def test_jd_hours_are_ours_except_hidden_interventions(big: pl.DataFrame) -> None:
    df = big
    rows = counted(df, END)
    # With every column (the canonical parquet) JD's figure is ours, to the export's 0.01 h,
    # except where JD knew an intervention interval the data lacks.
    known = rows.filter(~pl.col("jd_intervened") | pl.col("intervention_end").is_not_null())
    assert (known["jd_hours"] - known["ours"]).abs().max() <= 0.005 + 1e-9
    # Without the intervention columns (the 京麦 export) ours is the gross figure: about 1 % of
    # counted orders differ, each by a few hours, all JD interventions.
    differ = rows.filter((pl.col("gross") - pl.col("jd_hours")).abs() > 0.01)
    assert 0.003 < differ.height / rows.height < 0.02
    assert differ["jd_intervened"].all()
    assert ((differ["gross"] - differ["jd_hours"]).is_between(0.5, 48.0)).all()
    assert not differ["scene"].is_in(AUDIT_ENDED).any()
    open_ = df.filter(pl.col("complete_time").is_null())
    assert open_["jd_hours"].null_count() == open_.height


def test_open_orders_only_near_the_end(frame: pl.DataFrame) -> None:
    open_ = frame.filter(pl.col("complete_time").is_null())
    assert open_.height > 0
    assert set(open_["status"]) <= OPEN_STATUSES
    assert {"待审核", "待收货", "待处理"} <= set(open_["status"])
    assert (open_["apply_time"] >= datetime(2025, 10, 31)).all()
    not_audited = open_.filter(pl.col("status").is_in(["待审核", "待客户反馈"]))
    assert not_audited["first_audit_time"].null_count() == not_audited.height
    assert not_audited["first_process_time"].null_count() == not_audited.height
    waiting = open_.filter(pl.col("status") == "待收货")
    assert waiting["inbound_time"].null_count() == waiting.height
    done = frame.filter(pl.col("complete_time").is_not_null())
    assert not set(done["status"]) & {"待审核", "待客户反馈", "待收货"}


# --- files: 京麦 downloads, stores.toml, parquet -------------------------------------------------


def test_write_demo_layout(files: demo.DemoFiles) -> None:
    out = files.out
    expected = demo.generate(stores=4, orders=300, end=END, seed=3)
    assert files.exports == out / "exports"
    assert files.stores_toml == out / "exports" / "stores.toml"
    assert files.parquet == out / "_canonical" / "all_stores.parquet"
    assert [p.name for p in files.xlsx] == [
        "示例旗舰店_售后服务单_20251130.xlsx",
        "优品数码专营店_售后服务单_20251130.xlsx",
        "家居生活馆_售后服务单_20251130.xlsx",
        "母婴优选店_售后服务单_20251130.xlsx",
    ]
    assert all(p.parent == files.exports for p in files.xlsx)
    assert sorted(p.name for p in files.exports.iterdir()) == sorted(
        [*(p.name for p in files.xlsx), "stores.toml"]
    )
    assert files.rows == expected.height
    assert files.stores == ("1000101", "1000102", "1000103", "1000104")
    assert files.paths == (*files.xlsx, files.stores_toml, files.parquet)
    assert_frame_equal(pl.read_parquet(files.parquet), expected)


def test_stores_toml_maps_every_file(files: demo.DemoFiles) -> None:
    text = files.stores_toml.read_text(encoding="utf-8")
    assert '[stores."1000101"]\nname = "示例旗舰店"\nfiles = ["示例旗舰店_售后服务单_*"]\n' in text
    table = tomllib.loads(text)
    assert list(table) == ["stores"]
    names = dict(pl.read_parquet(files.parquet).select("store_id", "store_name").unique().rows())
    assert table["stores"] == {
        sid: {"name": name, "files": [f"{name}_售后服务单_*"]} for sid, name in names.items()
    }
    truth = pl.read_parquet(files.parquet)
    for path in files.xlsx:
        owners = [
            sid
            for sid, entry in table["stores"].items()
            if any(fnmatch(path.name, glob) for glob in entry["files"])
        ]
        assert len(owners) == 1, path.name
        ids = data_rows(path)["服务单号"].to_list()
        mine = truth.filter(pl.col("store_id") == owners[0])["service_id"].to_list()
        assert ids == mine  # the file holds exactly that store's orders


def test_xlsx_has_the_two_row_jingmai_header(files: demo.DemoFiles) -> None:
    path = files.xlsx[0]
    raw = raw_sheet(path)
    assert raw.width == len(JINGMAI_HEADERS)
    titles = raw.row(0)
    assert titles[0] == "申请信息"  # A1: public importers switch to the two-row layout on it
    assert [t for t in titles if t is not None] == [
        "申请信息",
        "订单信息",
        "审核信息",
        "物流信息",
        "处理信息",
        "时效信息",
        "客户信息",
    ]
    assert list(raw.row(1)) == JINGMAI_HEADERS
    xml = sheet_xml(path)
    merged = re.findall(r'<mergeCell ref="([A-Z]+\d+:[A-Z]+\d+)"/>', xml)
    assert "A1:I1" in merged  # 申请信息 over its nine columns, column A included
    assert all(re.fullmatch(r"[A-Z]+1:[A-Z]+1", m) for m in merged)  # nothing merged down
    # Data from row 3: the first data row is the store's first order.
    mine = pl.read_parquet(files.parquet).filter(pl.col("store_id") == "1000101")
    assert raw.row(2)[0] == mine["service_id"][0]
    assert raw.height == 2 + mine.height
    headers = set(JINGMAI_HEADERS[1:])
    assert not {"店铺ID", "店铺编号", "店铺名称", "商家ID"} & headers  # no store column
    assert "暂完结时间" not in headers and "完结时间" not in headers


def test_xlsx_cells_are_the_orders(files: demo.DemoFiles) -> None:
    truth = pl.read_parquet(files.parquet)
    for path, sid in zip(files.xlsx, files.stores, strict=True):
        rows = data_rows(path)
        mine = truth.filter(pl.col("store_id") == sid)
        assert rows.height == mine.height
        assert rows["服务单号"].str.contains(r"^\d{10}$").all()
        assert rows["订单号"].str.contains(r"^\d{12,16}$").all()
        assert rows["订单号"].to_list() == mine["order_id"].to_list()
        assert rows["客户期望"].to_list() == mine["service_type"].to_list()
        assert rows["返回方式"].to_list() == mine["return_method"].to_list()
        stamps = mine["first_audit_time"].dt.strftime("%Y-%m-%d %H:%M:%S")
        assert rows["商家首次审核时间"].to_list() == stamps.to_list()
        assert (
            rows["审核时间"].to_list()
            == mine["last_audit_time"].dt.strftime("%Y-%m-%d %H:%M:%S").to_list()
        )
        flash = rows["是否闪退订单"].to_list()
        assert flash == ["是" if f else "否" for f in mine["flash_refund"]]
        jd = rows["售后整体时长(H)"].cast(pl.Float64)
        assert jd.equals(mine["jd_hours"], check_names=False)
    # IDs are text cells (shared strings), never numbers Excel would round.
    xml = sheet_xml(files.xlsx[0])
    for cell in ("A3", "B3", "A4", "B4"):
        assert re.search(rf'<c r="{cell}"[^>]* t="s"', xml), cell


# --- dirty downloads ------------------------------------------------------------------------------


def test_dirty_frame_has_overlapping_download_duplicates() -> None:
    clean = demo.generate(stores=2, orders=300, end=END, seed=4)
    dirty = demo.generate(stores=2, orders=300, end=END, seed=4, dirty=True)
    assert dirty.height > clean.height
    dup = dirty.filter(pl.col("service_id").is_duplicated())
    assert dup.height > 0
    assert set(dup["service_id"]) <= set(clean["service_id"])
    spread = dup.group_by("service_id").agg(
        n_complete=pl.col("complete_time").n_unique(),
        nulls=pl.col("complete_time").null_count(),
        unprocessed=pl.col("first_process_time").null_count(),
    )
    assert (spread["n_complete"] > 1).any()  # a later completion from another system
    snapshots = spread.filter(pl.col("nulls") > 0)
    assert snapshots.height > 0  # a download taken before the processing
    assert (snapshots["unprocessed"] > 0).all()


def test_dirty_xlsx_carry_export_problems(tmp_path: Path) -> None:
    files = demo.write_demo(tmp_path, stores=2, orders=300, end=END, seed=4, dirty=True)
    rows = pl.concat([data_rows(p) for p in files.xlsx])
    assert rows["服务单号"].is_duplicated().any()  # overlapping downloads
    assert rows["订单号"].str.contains(r"^\d\.\d{5}E\+1[15]$").any()
    markers = pl.concat([rows[c] for c in ("取件时间", "快递公司", "处理人", "商家收货时间")])
    assert {"-", "--", "无"} <= set(markers.drop_nulls())
    applied = rows["售后申请时间"]
    assert applied.null_count() == 0
    assert applied.str.contains(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$").mean() > 0.8
    assert applied.str.contains(r"^\d{4}/\d\d/\d\d \d\d:\d\d$").any()
    assert applied.str.contains(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d$").any()
    assert applied.str.contains(r"^\d{13}$").any()
    assert (rows["取件时间"] == demo.EPOCH_ZERO).any()  # JD's zero timestamp

    # Epoch milliseconds are the UTC instant of the China-time value.
    truth = dict(pl.read_parquet(files.parquet).select("service_id", "apply_time").rows())
    epoch = rows.filter(pl.col("售后申请时间").str.contains(r"^\d{13}$")).row(0, named=True)
    ms = int(epoch["售后申请时间"])
    moment = datetime(1970, 1, 1) + timedelta(milliseconds=ms) + timedelta(hours=8)
    assert moment == truth[epoch["服务单号"]]


# --- loading the demo through the loader ----------------------------------------------------------


def test_loader_reads_the_exports_folder(files: demo.DemoFiles) -> None:
    from aftersales_kit.load import load

    loaded = load([files.exports])
    truth = pl.read_parquet(files.parquet)
    got = loaded.frame.sort("service_id")
    want = truth.sort("service_id")
    assert got["service_id"].to_list() == want["service_id"].to_list()
    assert got["store_id"].to_list() == want["store_id"].to_list()
    assert got["store_name"].to_list() == want["store_name"].to_list()
    for column in ("apply_time", "first_audit_time", "first_process_time", "last_audit_time"):
        assert got[column].equals(want[column], check_names=False), column
    for column in ("service_type", "status", "return_method", "process_result", "flash_refund"):
        assert got[column].equals(want[column], check_names=False), column
    assert (got["jd_hours"] - want["jd_hours"]).abs().max() < 1e-9


# --- ensure_demo and CLI --------------------------------------------------------------------------


def test_ensure_demo_generates_once(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    path = demo.ensure_demo(out, stores=2, orders=50, end=END)
    assert path == out / "exports"
    assert sorted(p.name for p in out.iterdir()) == [".demo-end", "_canonical", "exports"]
    assert {p.name for p in path.iterdir()} == {
        "示例旗舰店_售后服务单_20251130.xlsx",
        "优品数码专营店_售后服务单_20251130.xlsx",
        "stores.toml",
    }
    stamp = (out / "_canonical" / "all_stores.parquet").stat().st_mtime_ns
    assert demo.ensure_demo(out, stores=2, orders=50, end=END) == path
    assert (out / "_canonical" / "all_stores.parquet").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no temporary folders left


def test_ensure_demo_concurrent_callers_agree(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    results: list[Path] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(demo.ensure_demo(out, stores=1, orders=80, end=END))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == [out / "exports"] * 3
    assert pl.read_parquet(out / "_canonical" / "all_stores.parquet").height == 80
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]


def test_ensure_demo_into_existing_folder(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    path = demo.ensure_demo(out, stores=1, orders=40, end=END)
    assert path == out / "exports"
    assert (out / "notes.txt").read_text() == "keep me"
    assert (path / "示例旗舰店_售后服务单_20251130.xlsx").exists()
    assert (path / "stores.toml").exists()
    assert (out / "_canonical" / "all_stores.parquet").exists()


def test_ensure_demo_regenerates_a_demo_from_an_earlier_day(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    exports = demo.ensure_demo(out, stores=1, orders=50)
    parquet = out / "_canonical" / "all_stores.parquet"
    marker = out / ".demo-end"
    assert marker.read_text() == demo._parse_end(None).isoformat()
    marker.write_text("2020-01-01")  # pretend it was generated long ago
    (exports / "示例旗舰店_售后服务单_20200101.xlsx").write_bytes(b"old")
    before = pl.read_parquet(parquet)["apply_time"].max()
    assert demo.ensure_demo(out, stores=1, orders=50) == exports
    assert marker.read_text() != "2020-01-01"
    assert pl.read_parquet(parquet)["apply_time"].max() == before  # same seed, same end
    # The old download is gone: the glob in stores.toml would otherwise match two files.
    assert len(list(exports.glob("*.xlsx"))) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]
    # A demo written with an explicit end (e.g. `aftersales demo --end`) is never replaced.
    marker.write_text("2020-01-01")
    demo.ensure_demo(out, stores=1, orders=50, end="2026-01-31")
    assert marker.read_text() == "2020-01-01"


def test_cli_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    args = ["demo", "--stores", "2", "--orders", "60", "--end", "2025-11-30", "--seed", "9"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 家店铺" in printed
    assert str(out / "exports") in printed
    for path in (
        out / "exports" / "示例旗舰店_售后服务单_20251130.xlsx",
        out / "exports" / "优品数码专营店_售后服务单_20251130.xlsx",
        out / "exports" / "stores.toml",
        out / "_canonical" / "all_stores.parquet",
    ):
        assert str(path) in printed
        assert path.exists()
    expected = demo.generate(stores=2, orders=60, end="2025-11-30", seed=9)
    assert_frame_equal(pl.read_parquet(out / "_canonical" / "all_stores.parquet"), expected)


def test_cli_demo_dirty_and_bad_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dirty"
    args = ["demo", "--stores", "1", "--orders", "80", "--end", "2025-11-30", "--dirty"]
    assert main([*args, "--out", str(out)]) == 0
    assert "dirty" in capsys.readouterr().out
    rows = data_rows(out / "exports" / "示例旗舰店_售后服务单_20251130.xlsx")
    assert rows["服务单号"].is_duplicated().any()
    try:
        code = main(["demo", "--end", "2025/11/30", "--out", str(tmp_path / "x")])
    except SystemExit as exc:  # argparse may reject the date itself
        code = exc.code
    assert code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# --- what public importers of real downloads expect --------------------------------------------


def public_importer(path: Path) -> list[dict[str, object]]:
    """A 京麦 importer as public code writes it against real downloads (JD-EXPORTS.md): the
    two-row layout only when A1 is 申请信息, headers looked up by name in row 2, amounts and
    quantities converted with float()/int() and no cleaning."""
    import openpyxl

    sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header_index = 1 if rows[0][0] == "申请信息" else 0
    header = list(rows[header_index])
    at = {name: header.index(name) for name in ("服务单号", "商品金额", "退款金额", "商品数量")}
    out = []
    for row in rows[header_index + 1 :]:
        refund = row[at["退款金额"]]
        out.append(
            {
                "service_id": row[at["服务单号"]],
                "amount": float(row[at["商品金额"]]),  # type: ignore[arg-type]
                "refund": None if refund is None else float(refund),  # type: ignore[arg-type]
                "quantity": int(row[at["商品数量"]]),  # type: ignore[arg-type]
            }
        )
    return out


def test_a_public_importer_reads_the_demo_download_unchanged(files: demo.DemoFiles) -> None:
    truth = pl.read_parquet(files.parquet).filter(pl.col("store_id") == "1000101")
    got = public_importer(files.xlsx[0])
    assert [r["service_id"] for r in got] == truth["service_id"].to_list()  # text, A2 服务单号
    assert [r["amount"] for r in got] == truth["amount"].to_list()
    assert [r["refund"] for r in got] == truth["refund_amount"].to_list()
    assert [r["quantity"] for r in got] == truth["quantity"].to_list()


def test_a_dirty_download_keeps_the_odd_forms_other_tools_write(tmp_path: Path) -> None:
    import openpyxl

    files = demo.write_demo(tmp_path, stores=1, orders=60, end=END, seed=4, dirty=True)
    sheet = openpyxl.load_workbook(files.xlsx[0]).worksheets[0]
    assert "A1:A2" in {str(r) for r in sheet.merged_cells.ranges}  # 服务单号 merged down
    assert sheet["A1"].value == "服务单号"
    assert sheet["A2"].value is None
    assert sheet["B1"].value == "申请信息"
    header = [c.value for c in sheet[2]]
    amount = sheet.cell(row=3, column=header.index("商品金额") + 1).value
    assert isinstance(amount, str)
    assert re.fullmatch(r"￥\d{1,3}(,\d{3})*\.\d\d", amount)
    # ... and the loader still reads them
    from aftersales_kit.load import load

    loaded = load(files.exports, skip_bad_rows=True)
    assert loaded.report.stores.keys() == {"1000101"}
    assert loaded.frame["amount"].null_count() == 0


def test_door_to_door_exchange_stops_its_clock_before_the_courier_visit(
    frame: pl.DataFrame,
) -> None:
    # 上门换新: the replacement is sent first (first processing), the courier delivering it
    # takes the old item back, so the pickup and the receipt come after the clock end.
    swaps = frame.filter(
        (pl.col("return_method") == "上门换新") & pl.col("first_process_time").is_not_null()
    )
    assert swaps.height >= 10
    assert (swaps["first_audit_time"] <= swaps["first_process_time"]).all()
    picked = swaps.filter(pl.col("pickup_time").is_not_null())
    assert picked.height > 0
    assert (picked["first_process_time"] < picked["pickup_time"]).all()
    received = swaps.filter(pl.col("inbound_time").is_not_null())
    assert (received["first_process_time"] < received["inbound_time"]).all()
    unprocessed = frame.filter(
        (pl.col("return_method") == "上门换新")
        & pl.col("first_process_time").is_null()
        & pl.col("first_audit_time").is_not_null()
        & ~pl.col("status").is_in(["取消", "审核关闭"])
    )
    assert set(unprocessed["status"]) <= {"待处理"}  # waits for the replacement, not the item


def test_the_demo_folder_loads_each_order_once_as_its_stores(files: demo.DemoFiles) -> None:
    from aftersales_kit.load import load

    loaded = load(files.out)
    assert sorted(loaded.report.stores) == list(files.stores)
    truth = pl.read_parquet(files.parquet)
    assert loaded.report.rows == truth.select(pl.struct("store_id", "service_id").n_unique()).item()
    assert sorted(f.path for f in loaded.report.files) == sorted(str(p) for p in files.xlsx)
    assert loaded.report.errors == []
    assert "service_id_in_two_stores" not in loaded.report.warning_counts


def test_a_dirty_demo_has_one_store_as_a_resaved_fbp_csv(tmp_path: Path) -> None:
    from aftersales_kit.load import load

    files = demo.write_demo(tmp_path, stores=2, orders=80, end=END, seed=4, dirty=True)
    [csv] = files.csv
    assert csv.name == "优品数码专营店_售后服务单_20251130.csv"
    assert [p.name for p in files.xlsx] == ["示例旗舰店_售后服务单_20251130.xlsx"]
    raw = csv.read_bytes()
    assert raw.startswith('="服务单号",="订单号"'.encode("gbk"))  # headers and IDs as ="…"
    loaded = load(files.exports, skip_bad_rows=True)
    truth = pl.read_parquet(files.parquet)
    assert loaded.report.stores.keys() == {"1000101", "1000102"}
    got = set(loaded.frame.filter(pl.col("store_id") == "1000102")["service_id"])
    assert got <= set(truth.filter(pl.col("store_id") == "1000102")["service_id"])
    assert len(got) > 0
