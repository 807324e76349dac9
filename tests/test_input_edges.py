"""Inputs at their edges: rules and config values, as-of before the data, the holiday table's end,
unreadable subfolders, long customer text, oversized mail."""

from __future__ import annotations

import os
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path

import polars as pl
import pytest
from factory import h, orders_frame

from aftersales_kit import cli
from aftersales_kit import format as fmt
from aftersales_kit.config import load_config
from aftersales_kit.deliver.smtp import SmtpSettings, send_message
from aftersales_kit.errors import DeliveryError, RulesError, UsageError
from aftersales_kit.load import load_unchecked
from aftersales_kit.metrics import open_summary
from aftersales_kit.rules import load_rules
from aftersales_kit.window import Window, uncovered_spring_festivals


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e9"])
def test_low_rules_values_nan_inf_and_absurd_are_refused(tmp_path: Path, value: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(f"[thresholds]\naudit_over_24h = {value}\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"thresholds\.audit_over_24h"):
        load_rules(path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[smpt]\nhost = 'x'\n", "smpt"),
        ("[smtp]\nhots = 'x'\n", "smtp.hots"),
        ('smtp = "x"\n', r"\[smtp\]"),
        ("[smtp]\nport = 99999\n", "smtp.port"),
        ("[smtp]\npassword = 'secret'\n", "AFTERSALES_SMTP_PASSWORD"),
        ('[stores."1"]\nfiels = ["a.xlsx"]\n', r'stores\."1"\.fiels'),
    ],
)
def test_low_config_sections_and_keys_are_checked(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "aftersales.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=match):
        load_config(path)


def test_low_metrics_as_of_before_the_data_counts_no_later_orders_as_open() -> None:
    frame = orders_frame(
        (
            {"service_id": "early", "status": "待审核", "complete_time": None},
            {"service_id": "late", "status": "待审核", "complete_time": None, "apply_time": h(48)},
        ),
        service_type="退货",
    )
    rules = load_rules()
    got = open_summary(frame, store_id="s1", as_of=h(24), rules=rules)
    assert got["count"] == 1  # "late" was applied after the as-of time
    assert open_summary(frame, store_id="s1", as_of=h(72), rules=rules)["count"] == 2


def test_low_holiday_table_end_is_said_not_none_applies() -> None:
    rules = load_rules()
    assert uncovered_spring_festivals(Window(date(2028, 2, 1), date(2028, 3, 1)), rules=rules) == ()
    window = Window(date(2029, 2, 1), date(2029, 3, 2))
    assert uncovered_spring_festivals(window, rules=rules) == (2029,)
    assert uncovered_spring_festivals(Window(date(2029, 6, 1), date(2029, 6, 30)), rules=rules) == (
        2029,
    )  # the 180-day apply limit reaches back into February
    assert (
        uncovered_spring_festivals(Window(date(2029, 10, 1), date(2029, 10, 30)), rules=rules) == ()
    )


def test_low_holiday_table_end_reaches_methodology_and_data_quality() -> None:
    from aftersales_kit.diagnose import diagnose
    from aftersales_kit.render.sections import data_quality, methodology

    rules = load_rules()
    frame = orders_frame(
        ({"apply_time": datetime(2029, 3, 1), "first_process_time": datetime(2029, 3, 2),
          "complete_time": datetime(2029, 3, 2)},),
        service_type="退货",
    )  # fmt: skip
    window = Window(date(2029, 2, 10), date(2029, 3, 11))
    d = diagnose(frame, window=window, rules=rules, as_of=datetime(2029, 3, 12, 9))["s1"]
    assert d.data_quality.holiday_years_missing == (2029,)
    expected = (("zh", "2029年春节没有不考核期间表"), ("en", "no Spring Festival exemption"))
    for lang, text in expected:
        assert text in methodology(d, rules=rules, lang=lang).html
        assert text in data_quality(d, lang=lang).html


def test_unreadable_subfolder_is_a_warning_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = tmp_path / "data" / "a"
    bad = tmp_path / "data" / "b"
    good.mkdir(parents=True)
    bad.mkdir()
    orders_frame(({},), service_type="退货").write_parquet(good / "x.parquet")
    (bad / "y.parquet").write_bytes(b"")
    bad.chmod(0)
    try:
        if os.access(bad, os.R_OK):
            # Root reads any folder: make the listing of that one folder fail as EACCES would.
            real = os.scandir

            def scandir(path: object = ".") -> object:
                if Path(str(path)) == bad:
                    raise PermissionError(13, "Permission denied", str(bad))
                return real(path)  # type: ignore[arg-type]

            monkeypatch.setattr(os, "scandir", scandir)
        report = load_unchecked(tmp_path / "data").report
    finally:
        bad.chmod(0o755)
    assert report.errors == []
    assert report.rows == 1
    assert report.warning_counts["unreadable_path"] == 1
    assert report.warnings[0].file == str(bad)


def test_unreadable_path_on_the_command_line_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["validate", str(tmp_path / "nope.xlsx"), "--store-id", "1"]) == 1
    assert "文件不存在" in capsys.readouterr().out


def test_low_long_customer_text_is_cut_in_tables() -> None:
    from aftersales_kit.render.html import table

    long = "很长的描述" * 200
    assert fmt.clip(long) == long[:499] + "…"
    assert fmt.clip("短") == "短"
    html = table([[long]], headers=["描述"])
    assert long[:499] + "…" in html and long not in html


def test_low_mail_over_the_size_limit_is_refused_with_a_clear_message() -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@b.c", "d@e.f", "x"
    message.set_content("x" * (21 * 1024 * 1024))
    settings = SmtpSettings(host="127.0.0.1", port=1, sender="a@b.c", security="none")
    with pytest.raises(DeliveryError, match=r"邮件过大.*--zip-report"):
        send_message(message, recipients=["d@e.f"], settings=settings)


def test_low_customer_text_frame_cut_is_exact() -> None:
    frame = pl.DataFrame({"t": ["a" * 501, "b" * 500]})
    assert [len(fmt.clip(v)) for v in frame["t"]] == [500, 500]
    assert fmt.clip(frame["t"][1]) == "b" * 500  # at the limit: untouched
