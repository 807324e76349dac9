"""Data as of (DOMAIN §2): an old download is diagnosed as of its data, with a one-line notice;
today's download is unaffected; a batch leaves a store with out-of-date data out of rankings.

Downloads are built by hand with xlsxwriter in the real 京麦 layout, their timestamps placed
relative to the real clock, and their modification times set with os.utime.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import xlsxwriter

from aftersales_kit import cli, text
from aftersales_kit.api import analyze_estate
from aftersales_kit.deliver import push
from aftersales_kit.load import load_unchecked
from aftersales_kit.pipeline import diagnose_data
from aftersales_kit.render import portfolio, sections
from aftersales_kit.rules import load_rules
from aftersales_kit.window import china_now, resolve_clock

RULES = load_rules()
HEADERS = [
    "服务单号",
    "客户期望",
    "服务单状态",
    "返回方式",
    "售后申请时间",
    "商家首次审核时间",
    "商家首次处理时间",
    "商品金额",
]
DAY = timedelta(days=1)


def stamp(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def download(path: Path, *, latest: datetime, prefix: int = 32, age_days: float = 0.0) -> Path:
    """A 京麦 download of refunds whose latest timestamp is ``latest``: 20 completed orders on
    the 20 days before it (completion 10 h after the application, audit after 2 h) and one
    open order applied at ``latest``; the file's mtime is ``age_days`` old."""
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.merge_range(0, 0, 0, 4, "申请信息")
    sheet.merge_range(0, 5, 0, 6, "时效信息")
    sheet.write_string(0, 7, "订单信息")
    sheet.write_row(1, 0, HEADERS)
    rows = []
    for i in range(20):
        apply = latest - timedelta(days=20 - i, hours=12)
        rows.append(
            (
                f"{prefix}{i:08d}",
                "完成",
                apply,
                apply + timedelta(hours=2),
                apply + timedelta(hours=10),
            )
        )
    rows.append((f"{prefix}99999999", "待审核", latest, None, None))
    for r, (sid, status, apply, audit, process) in enumerate(rows, start=2):
        sheet.write_string(r, 0, sid)
        sheet.write_string(r, 1, "已收货退款")
        sheet.write_string(r, 2, status)
        sheet.write_string(r, 3, "退款不退货")
        sheet.write_string(r, 4, stamp(apply))
        sheet.write_string(r, 5, stamp(audit))
        sheet.write_string(r, 6, stamp(process))
        sheet.write_number(r, 7, 99.0)
    book.close()
    moment = datetime.now().timestamp() - age_days * 86400
    os.utime(path, (moment, moment))
    return path


def test_clock_rules() -> None:
    now = datetime(2026, 12, 3, 9, 0, 0)
    old = {"1": datetime(2026, 11, 10, 18, 0, 0)}
    fresh_file = {"1": now - timedelta(hours=1)}
    old_file = {"1": now - timedelta(days=20)}

    def clock(**kw: object) -> object:
        args = {"as_of": None, "start": None, "end": None, "data_as_of": old, "now": now}
        args.update(kw)
        return resolve_clock(rules=RULES, **args)  # type: ignore[arg-type]

    # an old download whose file is old too: as of its data, window the 30 days before that date
    c = clock(newest_file=old_file)
    assert (c.as_of, c.source) == (old["1"], "data")
    assert (c.window.start, c.window.end) == (date(2026, 10, 11), date(2026, 11, 9))
    # a fresh file of a quiet store is never shifted
    c = clock(newest_file=fresh_file)
    assert (c.as_of, c.source, c.window.end) == (now, "now", date(2026, 12, 2))
    # --as-of data shifts regardless of the file
    assert clock(as_of="data", newest_file=fresh_file).as_of == old["1"]
    # --as-of and --end given win
    c = clock(as_of="2026-12-01 08:00", newest_file=old_file)
    assert (c.as_of, c.source, c.window.end) == (
        datetime(2026, 12, 1, 8),
        "given",
        date(2026, 11, 30),
    )
    c = clock(end="2026-11-30", newest_file=old_file)
    assert (c.window.start, c.window.end, c.as_of) == (
        date(2026, 11, 1),
        date(2026, 11, 30),
        old["1"],
    )
    # just under 48 h: nothing moves
    recent = {"1": now - timedelta(hours=47)}
    assert clock(data_as_of=recent, newest_file=old_file).source == "now"


def test_an_old_download_is_diagnosed_as_of_its_data(tmp_path: Path) -> None:
    latest = (china_now() - timedelta(days=24)).replace(hour=18, minute=0, second=0)
    path = download(tmp_path / "1000101" / "old.xlsx", latest=latest, age_days=23)
    computed = diagnose_data(tmp_path)
    d = computed.diagnoses["1000101"]
    assert d.data_as_of == latest
    assert d.as_of == latest and d.as_of_source == "data"
    end = latest.date() - DAY
    assert (d.window.start, d.window.end) == (end - timedelta(days=29), end)
    # the orders completed in those 30 days count; the open order is judged as of the data
    assert d.kpis.counted == 20
    assert d.kpis.mean_hours == pytest.approx(10.0)
    notice = text.data_notice(d, "zh")
    assert notice is not None
    assert f"数据截至{latest:%Y-%m-%d %H:%M}" in notice and "按数据时间计算" in notice
    assert "\n" not in notice
    assert notice in str(sections.kpi_cards(d, lang="zh").html)
    assert notice in push.store_message(d, lang="zh").markdown
    assert path.exists()


def test_an_old_download_in_a_fresh_file_keeps_now_and_says_so(tmp_path: Path) -> None:
    latest = (china_now() - timedelta(days=10)).replace(minute=0, second=0)
    download(tmp_path / "1000101" / "x.xlsx", latest=latest, age_days=0)
    d = diagnose_data(tmp_path).diagnoses["1000101"]
    assert d.as_of_source == "now"
    assert d.window.end == china_now().date() - DAY
    notice = text.data_notice(d, "en")
    assert notice is not None and "check that this is the latest download" in notice


def test_todays_download_is_unaffected(tmp_path: Path) -> None:
    latest = china_now() - timedelta(hours=3)
    download(tmp_path / "1000101" / "today.xlsx", latest=latest, age_days=0)
    d = diagnose_data(tmp_path).diagnoses["1000101"]
    assert d.as_of_source == "now"
    assert d.data_as_of == latest.replace(microsecond=0)
    assert d.window.end == china_now().date() - DAY
    assert text.data_notice(d, "zh") is None
    assert "数据截至" not in push.store_message(d, lang="zh").markdown
    # an old mtime alone changes nothing either: the data is current
    download(tmp_path / "1000101" / "today.xlsx", latest=latest, age_days=30)
    assert diagnose_data(tmp_path).diagnoses["1000101"].as_of_source == "now"


def test_as_of_given_wins_and_measures_the_age(tmp_path: Path) -> None:
    latest = datetime(2026, 3, 30, 18, 0, 0)
    download(tmp_path / "1000101" / "x.xlsx", latest=latest, age_days=200)
    d = diagnose_data(tmp_path, as_of="2026-03-31 09:00").diagnoses["1000101"]
    assert d.as_of == datetime(2026, 3, 31, 9) and d.as_of_source == "given"
    assert d.window.end == date(2026, 3, 30)
    assert text.data_notice(d, "zh") is None  # 15 h before the report time: not old
    d = diagnose_data(tmp_path, as_of="2026-04-05 09:00").diagnoses["1000101"]
    assert "比报告时间早5天" in (text.data_notice(d, "zh") or "")


def test_cli_validate_and_report_say_the_data_is_old(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latest = (china_now() - timedelta(days=24)).replace(hour=18, minute=0, second=0)
    download(tmp_path / "data" / "1000101" / "old.xlsx", latest=latest, age_days=23)
    assert cli.main(["validate", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    days = int((china_now() - latest).total_seconds() // 86400)
    assert f"1000101: {latest:%Y-%m-%d %H:%M:%S} — ⚠ {days} 天前的数据 ({days} days old)" in out


@pytest.mark.slow
def test_cli_report_on_an_old_download(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    latest = (china_now() - timedelta(days=24)).replace(hour=18, minute=0, second=0)
    download(tmp_path / "data" / "1000101" / "old.xlsx", latest=latest, age_days=23)
    args = ["report", str(tmp_path / "data"), "--store", "1000101", "--out", str(tmp_path / "r")]
    assert cli.main(args) == 0
    captured = capsys.readouterr()
    end = latest.date() - DAY
    html = Path(captured.out.strip())
    assert html.name == f"{end - timedelta(days=29)}_{end}.html"
    assert f"店铺 (store) 1000101: ⚠ 数据截至{latest:%Y-%m-%d %H:%M}" in captured.err
    page = html.read_text(encoding="utf-8")
    assert "按数据时间计算" in page


def test_batch_marks_a_store_behind_the_newest_as_out_of_date(tmp_path: Path) -> None:
    now = china_now()
    download(tmp_path / "1000101" / "a.xlsx", latest=now - timedelta(hours=2), prefix=32)
    download(tmp_path / "1000102" / "b.xlsx", latest=now - timedelta(days=6), prefix=33)
    estate = analyze_estate(tmp_path)
    assert estate["1000102"].data_stale and not estate["1000101"].data_stale
    notice = text.data_notice(estate["1000102"], "zh") or ""
    assert notice.startswith("⚠ 数据过期")
    rows = estate.summary["stores"]
    assert [r["store_id"] for r in portfolio.ranked(rows)] == ["1000101"]
    assert [r["store_id"] for r in portfolio.stale(rows)] == ["1000102"]
    ranking = str(portfolio.ranking(estate.summary, lang="zh").html)
    assert "数据过期（不参与排名）" in ranking
    assert estate.portfolio["data_stale"].to_list() == [False, True]
    message = push.estate_message(list(estate.diagnoses.values()), lang="zh").markdown
    worst = message.split("平均时长最高的店铺")[1]
    assert "1000101" in worst and "1000102" not in worst


def test_future_timestamps_are_counted_and_ignored(tmp_path: Path) -> None:
    latest = china_now() - timedelta(hours=5)
    path = download(tmp_path / "1000101" / "x.xlsx", latest=latest)
    future = (china_now() + timedelta(days=400)).strftime("%Y-%m-%d %H:%M:%S")
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, HEADERS)
    sheet.write_row(1, 0, ["3200000001", "退货", "完成", "上门取件", stamp(latest), future, future])
    book.close()
    report = load_unchecked(tmp_path).report
    assert report.warning_counts["future_timestamp"] == 2
    assert report.data_as_of == {"1000101": latest.replace(microsecond=0)}


def test_download_coverage_in_data_quality(tmp_path: Path) -> None:
    latest = datetime(2026, 3, 30, 18, 0, 0)
    download(tmp_path / "1000101" / "x.xlsx", latest=latest)
    d = diagnose_data(tmp_path, as_of="2026-03-31 09:00").diagnoses["1000101"]
    assert d.earliest_apply == date(2026, 3, 10)
    assert d.apply_limit == date(2025, 10, 2)
    html = str(sections.data_quality(d, lang="zh").html)
    assert "数据中最早的申请日期为2026-03-10，晚于本考核周期的180天申请上限2025-10-02" in html
    assert "2025-10-02至2026-03-09申请" in html
    d = diagnose_data(tmp_path, as_of="2026-10-10 09:00", start="2026-09-10", end="2026-10-09")
    quality = str(sections.data_quality(d.diagnoses["1000101"], lang="en").html)
    assert "not after this window" in quality


def test_metrics_json_prints_as_of_and_data_as_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    latest = datetime(2026, 3, 30, 18, 0, 0)
    download(tmp_path / "1000101" / "x.xlsx", latest=latest, age_days=0)
    args = ["metrics", str(tmp_path), "--store", "1000101", "--json"]
    assert cli.main([*args, "--as-of", "data"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["as_of"] == got["data_as_of"] == "2026-03-30 18:00:00"
    assert (got["start"], got["end"], got["counted"]) == ("2026-02-28", "2026-03-29", 20)


def test_actions_json_prints_the_data_as_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    latest = datetime(2026, 3, 30, 18, 0, 0)
    download(tmp_path / "1000101" / "x.xlsx", latest=latest, age_days=0)
    args = ["actions", str(tmp_path), "--store", "1000101", "--as-of", "2026-03-31 09:00", "--json"]
    assert cli.main(args) == 0
    got = json.loads(capsys.readouterr().out)
    # the open order applied at 18:00 is the latest timestamp (the data_until of the API is the
    # latest apply/complete time, which happens to agree here)
    assert (got["as_of"], got["data_as_of"]) == ("2026-03-31 09:00:00", "2026-03-30 18:00:00")
    assert [o["service_id"] for o in got["orders"]] == ["3299999999"]
