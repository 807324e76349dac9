"""Formatting and masking (format.py): where numbers and personal data become text."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from aftersales_kit import format as fmt


def test_hours_percentages_deltas_and_dates() -> None:
    assert fmt.hours(281.66) == "281.7 小时"
    assert fmt.hours(1234.56, lang="en") == "1,234.6 h"
    assert fmt.hours(5.0, unit=False) == "5.0"
    assert fmt.hours(None) == "—"
    assert fmt.pct(0.12345) == "12.3%"
    assert fmt.pct(None) == "—"
    assert fmt.delta_pct(281.7, previous=251.5) == "↑12%"
    assert fmt.delta_pct(90.0, previous=100.0) == "↓10%"
    assert fmt.delta_pct(100.0, previous=100.0) == "→0%"
    assert fmt.delta_pct(1.0, previous=0.0) == "—"
    assert fmt.delta_pct(None, previous=1.0) == "—"
    assert fmt.day(date(2026, 3, 1)) == "2026-03-01"
    assert fmt.day(datetime(2026, 3, 1, 9), short=True) == "03-01"
    assert fmt.timestamp(datetime(2026, 3, 1, 9, 5, 59)) == "2026-03-01 09:05"
    assert fmt.escape('<a href="x">&</a>') == "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
    assert fmt.escape(None) == ""


def test_personal_data_is_masked() -> None:
    frame = pl.DataFrame(
        {
            "customer_name": ["张三丰", "李四", "王", "", None],
            "customer_phone": ["13812345678", "138 1234 5678", "010-1234567", "12", None],
            "address": ["北京市朝阳区建国路88号", "上海", None, "a", "b"],
            "sku_name": ["不动", "不动", "不动", "不动", "不动"],
        }
    )
    expected = pl.DataFrame(
        {
            "customer_name": ["张**", "李*", "*", "", None],
            "customer_phone": ["138****5678", "138****5678", "010****67", "****", None],
            "address": ["北京市朝阳区****", "上海****", None, "a****", "b****"],
            "sku_name": ["不动", "不动", "不动", "不动", "不动"],
        }
    )
    assert_frame_equal(fmt.mask_personal(frame), expected)
    # Only the personal columns present are touched; lazy frames work the same way.
    only_phone = pl.LazyFrame({"customer_phone": ["13912345678"], "x": [1]})
    assert fmt.mask_personal(only_phone).collect().rows() == [("139****5678", 1)]


def test_new_personal_columns_are_masked_and_masking_is_idempotent() -> None:
    # Issue 9: 下单账号, 省/市 holding more than a region name, phone numbers in 客户问题描述.
    frame = pl.DataFrame(
        {
            "buyer_account": ["jd_ab12cd", "ab", None],
            "province": ["广东省", "广东省深圳市南山区科技园1号", None],
            "city": ["深圳市", "深圳市南山区 13812345678", None],
            "description": ["请打13812345678联系我", "坏了，电话 138 1234 5678", None],
        }
    )
    masked = fmt.mask_personal(frame)
    assert masked.rows() == [
        ("j****d", "广东省", "深圳市", "请打****联系我"),
        ("****", "广东省深圳市****", "深圳市南山区****", "坏了，电话 ****"),
        (None, None, None, None),
    ]
    assert_frame_equal(fmt.mask_personal(masked), masked)


def test_labels_drop_the_point_zero() -> None:
    assert fmt.hours_label(60.0) == "60小时"
    assert fmt.hours_label(60.0, lang="en") == "60 h"
    assert fmt.hours_label(1.5) == "1.5小时"


def test_typed_values_are_shown_by_their_type() -> None:
    # A finding value's type decides its text, not the name of its key.
    assert fmt.value(fmt.Hours(63.25)) == "63.2 小时"
    assert fmt.value(fmt.Hours(63.26), lang="en") == "63.3 h"
    assert fmt.value(fmt.HoursLimit(60.0)) == "60小时"
    assert fmt.value(fmt.HoursLimit(1.5), lang="en") == "1.5 h"
    assert fmt.value(fmt.Share(0.4434)) == "44.3%"
    assert fmt.value(fmt.Change(0.1)) == "+10.0%"
    assert fmt.value(fmt.Change(-0.1)) == "−10.0%"
    assert fmt.value(fmt.Count(1234)) == "1,234"
    assert fmt.value(fmt.Star(3.5)) == "3.5"
    assert fmt.value(fmt.Star(4.0)) == "4"
    assert fmt.value(fmt.ClockHours((21, 10))) == "21:00、10:00"
    assert fmt.value(fmt.ClockHours((21, 10)), lang="en") == "21:00, 10:00"
    assert fmt.value(fmt.Stage("audit")) == "audit"  # terms are translated by text.py
    assert fmt.value(None) == "—"
    # They compute and compare as the plain numbers they are.
    assert fmt.Count(2) / fmt.Count(4) == 0.5
    assert fmt.Hours(1.5) == 1.5 and fmt.Stage("audit") == "audit"


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_babel_rounds_like_the_report_always_did(x: float) -> None:
    # Through Babel, but the same digits as the hand formatting it replaced (no visible change).
    assert fmt.hours(x, unit=False) == f"{x:,.1f}"
    assert fmt.pct(x / 1000) == f"{x / 1000 * 100:,.1f}%"
    current = 1 + x / 1e6
    change = (current - 1.0) / 1.0
    assert fmt.delta_pct(current, previous=1.0)[1:] == f"{abs(change) * 100:.0f}%"


def test_texts_maps_each_value_and_keeps_nulls() -> None:
    frame = pl.DataFrame({"k": ["a", None, "b", "a"], "n": [1.5, None, 2.0, 3.0]})
    out = frame.select(
        fmt.texts(pl.col("k"), lambda v: v.upper()),
        fmt.texts(pl.col("n"), lambda v: f"{v:.1f} h").alias("h"),
    )
    assert out["k"].to_list() == ["A", None, "B", "A"]
    assert out["h"].to_list() == ["1.5 h", None, "2.0 h", "3.0 h"]
    assert out.schema["k"] == pl.String
    # the same as polars' own element-wise map, which it replaces
    stock = frame.select(pl.col("k").map_elements(lambda v: v.upper(), return_dtype=pl.String))
    assert stock["k"].to_list() == out["k"].to_list()
