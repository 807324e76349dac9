"""The demo generator: determinism, schema, statistical shape, JD-style files, dirty exports."""

from __future__ import annotations

import re
import threading
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from aftersales_kit import demo
from aftersales_kit.cli import main
from aftersales_kit.errors import UsageError
from aftersales_kit.schema import ALIASES, COLUMNS

END = date(2025, 11, 30)  # the 180 days before include 618 and 双11
EXPORT = datetime(2025, 12, 1)  # end + 1 day 00:00: nothing can happen after it
OPEN_STATUSES = {"待审核", "待客户反馈", "待收货", "待处理"}
DONE_STATUSES = {"完成", "取消", "审核不通过", "审核关闭"}
DT_COLUMNS = [c for c, t in COLUMNS.items() if t == pl.Datetime("us")]


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return demo.generate(stores=4, orders=500, end=END, seed=7)


def hours(a: str, b: str) -> pl.Expr:
    return (pl.col(b) - pl.col(a)).dt.total_seconds() / 3600


def with_scene(df: pl.DataFrame) -> pl.DataFrame:
    """DOMAIN §3 scene and clock end, computed independently of the generator."""
    scene = (
        pl.when(pl.col("status") == "取消")
        .then(pl.lit("取消"))
        .when(pl.col("status").is_in(["审核不通过", "审核关闭", "拒绝"]))
        .then(pl.lit("拒绝"))
        .when(pl.col("approve_result") == "闪电退款")
        .then(pl.lit("闪电退款"))
        .when(pl.col("approve_result").is_in(["上门换新", "线下换新"]))
        .then(pl.lit("线下换新"))
        .when(pl.col("approve_result") == "返修换新")
        .then(pl.lit("返修换新"))
        .otherwise(pl.col("service_type"))
    )
    clock_end = (
        pl.when(pl.col("scene").is_in(["取消", "拒绝"]))
        .then(pl.col("first_audit_time"))
        .otherwise(pl.col("first_process_time"))
    )
    return df.with_columns(scene=scene).with_columns(clock_end=clock_end)


def window_means(df: pl.DataFrame, end: date) -> dict[str, float]:
    """Mean counted hours per store over the 30-day window ending at ``end`` (DOMAIN §3)."""
    overlap = (
        pl.min_horizontal("intervention_end", "clock_end")
        - pl.max_horizontal("intervention_start", "apply_time")
    ).dt.total_seconds() / 3600
    counted = (
        with_scene(df)
        .with_columns(
            hours=hours("apply_time", "clock_end")
            - pl.when(~pl.col("scene").is_in(["取消", "拒绝"]) & pl.col("jd_intervened"))
            .then(overlap.clip(0))
            .otherwise(0)
            .fill_null(0)
        )
        .filter(
            pl.col("complete_time").dt.date().is_between(end - timedelta(days=29), end),
            pl.col("hours") >= 0,
        )
    )
    rows = counted.group_by("store_id").agg(pl.col("hours").mean()).rows()
    return dict(rows)


# --- determinism and schema -----------------------------------------------------------------------


def test_same_seed_same_frame_and_other_seed_differs(frame: pl.DataFrame) -> None:
    assert_frame_equal(demo.generate(stores=4, orders=500, end=END, seed=7), frame)
    other = demo.generate(stores=4, orders=500, end=END, seed=8)
    assert not other.equals(frame)


def test_schema_is_exactly_canonical(frame: pl.DataFrame) -> None:
    assert list(frame.schema.items()) == list(COLUMNS.items())


def test_store_ids_names_and_sizes(frame: pl.DataFrame) -> None:
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
    assert frame["order_id"].str.contains(r"^\d{12}$").all()


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
    yesterday = date.today() - timedelta(days=1)
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


# --- statistical shape ----------------------------------------------------------------------------


def test_service_type_shares(frame: pl.DataFrame) -> None:
    shares = dict(frame["service_type"].value_counts(normalize=True).rows())
    assert 0.45 <= shares["退货"] <= 0.65
    assert 0.12 <= shares["仅退款"] <= 0.30
    assert 0.08 <= shares["换货"] <= 0.25
    assert 0.04 <= shares["维修"] <= 0.18


def test_vocabularies_are_jd_like(frame: pl.DataFrame) -> None:
    assert set(frame["approve_result"].drop_nulls()) <= {
        "上门取件",
        "客户发货",
        "客户送货",
        "闪电退款",
        "上门换新",
        "返修换新",
        "直接退款",
        "审核不通过",
    }
    assert set(frame["carrier"].drop_nulls()) == set(demo.CARRIERS)
    assert {"七天无理由", "质量问题", "商品瑕疵", "发错货", "拒收", "少件/漏发", "物流损坏"} <= set(
        frame["reason"]
    )
    assert frame["customer_phone"].str.contains(r"^1[3-9]\d{9}$").all()
    assert frame["customer_name"].str.len_chars().is_between(2, 3).all()
    assert frame["address"].str.contains(r"^.{2,8}[省市区].*[区县].+号.+小区\d+栋\d单元\d+$").all()
    assert frame["auditor"].drop_nulls().str.contains("^(客服|售后|系统自动审核)").all()


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
    audit = dict(
        frame.group_by("store_id").agg(hours("apply_time", "first_audit_time").median()).rows()
    )
    assert audit["1000102"] > 3 * audit["1000101"]  # understaffed
    assert audit["1000104"] < 1.0 < audit["1000101"]  # excellent
    inbound = frame.filter(pl.col("store_id") == "1000103").with_columns(
        h=hours("sign_time", "inbound_time"), late=pl.col("sign_time") >= datetime(2025, 11, 1)
    )
    last_month = inbound.filter("late")["h"].mean()
    before = inbound.filter(~pl.col("late"))["h"].mean()
    assert last_month > 24 > 12 > before  # the warehouse backlog of the last month


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


def test_every_scene_and_special_case_occurs(frame: pl.DataFrame) -> None:
    scenes = with_scene(frame)
    assert set(scenes["scene"]) >= {
        "取消",
        "拒绝",
        "闪电退款",
        "线下换新",
        "返修换新",
        "退货",
        "换货",
        "维修",
        "仅退款",
    }
    cancelled = frame.filter(pl.col("status") == "取消")
    assert cancelled["first_audit_time"].null_count() > 0  # cancelled before audit
    assert cancelled["first_audit_time"].drop_nulls().len() > 0
    assert set(frame["status"]) == OPEN_STATUSES | DONE_STATUSES
    jd = frame.filter("jd_intervened")
    with_interval = jd.filter(pl.col("intervention_end").is_not_null())
    assert with_interval.height > 0
    assert (with_interval["intervention_end"] > with_interval["intervention_start"]).all()
    assert jd.filter(pl.col("intervention_start").is_null()).height > 0  # flagged, no interval
    no_jd = frame.filter(~pl.col("jd_intervened"))
    assert no_jd["intervention_start"].null_count() == no_jd.height
    assert set(frame["feedback_rounds"]) == {0, 1, 2, 3}
    first_pass = (frame["feedback_rounds"] == 0).mean()
    assert 0.6 < first_pass < 0.95


def test_completed_orders_are_consistent(frame: pl.DataFrame) -> None:
    done = with_scene(frame.filter(pl.col("complete_time").is_not_null()))
    assert set(done["status"]) == DONE_STATUSES
    with_end = done.filter(pl.col("clock_end").is_not_null())
    assert (with_end["complete_time"] >= with_end["clock_end"]).all()
    assert (with_end["clock_end"] >= with_end["apply_time"]).all()
    process_scenes = done.filter(~pl.col("scene").is_in(["取消", "拒绝"]))
    assert process_scenes["first_process_time"].null_count() == 0
    only_refund = done.filter(pl.col("service_type") == "仅退款", pl.col("status") == "完成")
    assert only_refund["pickup_time"].null_count() == only_refund.height  # nothing to send back
    # Out-of-order scans exist only as rare noise.
    rstart = pl.coalesce("pickup_time", "customer_ship_time")
    odd = frame.filter(pl.col("sign_time") < rstart).height
    assert odd <= 0.01 * frame.height


def test_open_orders_only_near_the_end(frame: pl.DataFrame) -> None:
    open_ = frame.filter(pl.col("complete_time").is_null())
    assert open_.height > 0
    assert set(open_["status"]) == OPEN_STATUSES
    assert (open_["apply_time"] >= datetime(2025, 10, 31)).all()
    not_audited = open_.filter(pl.col("status").is_in(["待审核", "待客户反馈"]))
    assert not_audited["first_audit_time"].null_count() == not_audited.height
    assert not_audited["first_process_time"].null_count() == not_audited.height
    waiting = open_.filter(pl.col("status") == "待收货")
    assert waiting["inbound_time"].null_count() == waiting.height
    done = frame.filter(pl.col("complete_time").is_not_null())
    assert set(done["status"]).isdisjoint(OPEN_STATUSES)


# --- files ----------------------------------------------------------------------------------------


def test_write_demo_xlsx_and_parquet(tmp_path: Path) -> None:
    files = demo.write_demo(tmp_path, stores=2, orders=120, end=END, seed=3)
    expected = demo.generate(stores=2, orders=120, end=END, seed=3)
    assert files.xlsx == (tmp_path / "1000101.xlsx", tmp_path / "1000102.xlsx")
    assert files.parquet == tmp_path / "all_stores.parquet"
    assert files.csv is None
    assert files.rows == expected.height
    assert files.stores == ("1000101", "1000102")
    assert_frame_equal(pl.read_parquet(files.parquet), expected)

    sheet = pl.read_excel(files.xlsx[0], sheet_name="服务单明细")
    assert sheet.columns == [ALIASES[c][0] for c in COLUMNS]
    one = expected.filter(pl.col("store_id") == "1000101")
    for column in DT_COLUMNS:  # real datetime cells, exact to the second
        header = ALIASES[column][0]
        assert isinstance(sheet.schema[header], pl.Datetime), header
        assert sheet[header].cast(pl.Datetime("us")).eq_missing(one[column]).all()
    for column in ("service_id", "store_id", "order_id", "sku_id", "customer_phone"):
        header = ALIASES[column][0]
        assert sheet[header].dtype == pl.String  # IDs are text cells, never numbers
        assert sheet[header].to_list() == one[column].to_list()
    assert set(sheet["是否京东介入"]) <= {"是", "否"}


def test_dirty_frame_has_overlapping_export_duplicates() -> None:
    clean = demo.generate(stores=2, orders=300, end=END, seed=4)
    dirty = demo.generate(stores=2, orders=300, end=END, seed=4, dirty=True)
    assert dirty.height > clean.height
    dup = dirty.filter(pl.col("service_id").is_duplicated())
    assert dup.height > 0
    assert set(dup["service_id"]) <= set(clean["service_id"])
    spread = dup.group_by("service_id").agg(
        n_complete=pl.col("complete_time").n_unique(), nulls=pl.col("complete_time").null_count()
    )
    assert (spread["n_complete"] > 1).any()  # one export has a later completion
    assert (spread["nulls"] > 0).any()  # an earlier snapshot without completion


def test_dirty_csv_and_xlsx_carry_export_problems(tmp_path: Path) -> None:
    files = demo.write_demo(tmp_path, stores=2, orders=300, end=END, seed=4, dirty=True)
    assert files.csv == tmp_path / "all_stores.csv"
    raw = files.csv.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # GB18030, as Excel in China saves it
    csv = pl.read_csv(raw.decode("gb18030").encode(), infer_schema=False)
    assert csv.columns == [ALIASES[c][0] for c in COLUMNS]
    assert csv["服务单号"].is_duplicated().any()
    assert csv["订单号"].str.contains(r"^\d\.\d{5}E\+11$").any()
    markers = pl.concat([csv[ALIASES[c][0]] for c in ("pickup_time", "carrier", "auditor")])
    assert {"-", "--", "无"} <= set(markers.drop_nulls())
    applied = csv["申请时间"]
    assert applied.str.contains(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$").any()
    assert applied.str.contains(r"^\d{4}/\d\d/\d\d \d\d:\d\d$").any()
    assert applied.str.contains(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d$").any()
    assert applied.str.contains(r"^\d{13}$").any()

    # Epoch milliseconds are the UTC instant of the China-time value.
    truth = dict(pl.read_parquet(files.parquet).select("service_id", "apply_time").rows())
    epoch_rows = csv.filter(pl.col("申请时间").str.contains(r"^\d{13}$"))
    sid, ms = epoch_rows.row(0)[0], int(epoch_rows.row(0)[11])
    assert datetime(1970, 1, 1) + timedelta(milliseconds=ms) + timedelta(hours=8) == truth[sid]

    sheet = pl.read_excel(files.xlsx[0], sheet_name="服务单明细", infer_schema_length=0)
    texts = set(sheet["取件时间"].drop_nulls()) | set(sheet["订单号"])
    assert {"-", "--", "无"} & texts
    assert any(re.fullmatch(r"\d\.\d{5}E\+11", t) for t in sheet["订单号"])


# --- ensure_demo and CLI --------------------------------------------------------------------------


def test_ensure_demo_generates_once(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    path = demo.ensure_demo(out, stores=2, orders=50, end=END)
    assert path == out / "all_stores.parquet"
    assert sorted(p.name for p in out.iterdir()) == [
        ".demo-end",
        "1000101.xlsx",
        "1000102.xlsx",
        "all_stores.parquet",
    ]
    stamp = path.stat().st_mtime_ns
    assert demo.ensure_demo(out, stores=2, orders=50, end=END) == path
    assert path.stat().st_mtime_ns == stamp
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
    assert results == [out / "all_stores.parquet"] * 3
    assert pl.read_parquet(results[0]).height == 80
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]


def test_ensure_demo_into_existing_folder(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    path = demo.ensure_demo(out, stores=1, orders=40, end=END)
    assert path.exists()
    assert (out / "notes.txt").read_text() == "keep me"
    assert (out / "1000101.xlsx").exists()


def test_cli_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    code = main(
        [
            "demo",
            "--stores",
            "2",
            "--orders",
            "60",
            "--end",
            "2025-11-30",
            "--seed",
            "9",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "2 家店铺" in printed
    for name in ("1000101.xlsx", "1000102.xlsx", "all_stores.parquet"):
        assert str(out / name) in printed
    expected = demo.generate(stores=2, orders=60, end="2025-11-30", seed=9)
    assert_frame_equal(pl.read_parquet(out / "all_stores.parquet"), expected)


def test_cli_demo_dirty_and_bad_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dirty"
    assert (
        main(
            [
                "demo",
                "--stores",
                "1",
                "--orders",
                "80",
                "--end",
                "2025-11-30",
                "--dirty",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert str(out / "all_stores.csv") in capsys.readouterr().out
    assert main(["demo", "--end", "2025/11/30", "--out", str(tmp_path / "x")]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_ensure_demo_regenerates_a_demo_from_an_earlier_day(tmp_path):
    out = tmp_path / "demo"
    target = demo.ensure_demo(out, stores=1, orders=50)
    marker = out / ".demo-end"
    assert marker.read_text() == demo._parse_end(None).isoformat()
    marker.write_text("2020-01-01")  # pretend it was generated long ago
    before = pl.read_parquet(target)["apply_time"].max()
    demo.ensure_demo(out, stores=1, orders=50)
    assert marker.read_text() != "2020-01-01"
    assert pl.read_parquet(target)["apply_time"].max() == before  # same seed, same end: same data
    # A demo written with an explicit end (e.g. `aftersales demo --end`) is never replaced.
    marker.write_text("2020-01-01")
    demo.ensure_demo(out, stores=1, orders=50, end="2026-01-31")
    assert marker.read_text() == "2020-01-01"
