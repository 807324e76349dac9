"""Hostile names and configuration on the way out: bidi overrides and mentions in pushes and
attachment names, ``report_base_url`` schemes, secrets in error messages and kernel
environments, bad numbers on the command line, a closed stdout."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from net import free_port

from aftersales_kit.cli import main
from aftersales_kit.config import load_config
from aftersales_kit.deliver import mail as deliver
from aftersales_kit.deliver import push, smtp
from aftersales_kit.errors import UsageError
from aftersales_kit.render import engine

END = "2026-03-31"
AS_OF = "2026-04-01 09:00"
RLO = "\u202e"
HOSTILE = f"[钓鱼](http://evil.example){RLO}gnp.exe <@all> @all"


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    from aftersales_kit.demo.simulate import write_demo

    files = write_demo(tmp_path_factory.mktemp("demo"), stores=2, orders=120, end=date(2026, 3, 31))
    return files.exports


@pytest.fixture(scope="module")
def store(exports):
    from aftersales_kit.pipeline import diagnose_data

    computed = diagnose_data([str(exports)], end=END, as_of=AS_OF)
    return computed.diagnoses["1000101"]


# --- names in file names, pushes and the estate summary -------------------------------------------


def test_a_bidi_override_in_a_store_name_reaches_no_attachment_name(store) -> None:
    d = dataclasses.replace(store, store_name=f"示例{RLO}gnp.exe\u2066店")
    for name in (*deliver.attachment_names(d), *deliver.attachment_names(d, zipped=True)):
        assert RLO not in name and "\u2066" not in name, name
        assert "_示例gnp.exe店_" in name
    assert RLO not in deliver.subject(d) and "示例gnp.exe店" in deliver.subject(d)


def test_a_bidi_override_reaches_no_report_heading_or_index_link(store) -> None:
    from aftersales_kit.render.html import META_MIME, meta_bundle
    from aftersales_kit.render.portfolio import store_summary

    d = dataclasses.replace(store, store_name=f"示例{RLO}gnp.exe")
    bundle = meta_bundle("zh", title="售后诊断", store_id="1000101", store_name=d.store_name,
                         store_label="店铺", window_start="2026-03-02", window_end=END,
                         data_until="-", as_of="-", nav=[], footer="")  # fmt: skip
    assert bundle[META_MIME]["store_name"] == "示例gnp.exe"  # type: ignore[index]
    assert RLO not in str(bundle["text/plain"])
    assert store_summary(d, report="1000101/x.html")["store_name"] == "示例gnp.exe"


def test_a_bidi_override_or_mention_reaches_no_push_or_estate_line(store) -> None:
    d = dataclasses.replace(store, store_name=HOSTILE)
    for md in (
        push.store_message(d).markdown,
        push.store_message(store, store_name=HOSTILE).markdown,
        push.estate_message([d]).markdown,
        push.estate_message([store], names={"1000101": HOSTILE}).markdown,
    ):
        assert RLO not in md and "@all" not in md and "](http://evil" not in md
        assert "＠all" in md  # shown, but no longer a mention


def test_mentions_and_markup_in_service_ids_are_neutralised(store) -> None:
    hostile_ids = ["@all 781", "**粗**<@all>2", "[点我](http://evil.example)\n> q", "4", "5"]
    # The most urgent open orders of one team, as diagnose lists them (the ids from the export).
    frame = pl.DataFrame(
        {
            "service_id": hostile_ids,
            "hours_to_breach": [-5.0, -1.0, 2.0, 3.0, 4.0],
            "breached": [True, True, False, False, False],
            "will_count": [True] * 5,
        }
    )
    teams = {"cs": frame}
    md = push.store_message(dataclasses.replace(store, team_actions=teams)).markdown
    urgent = md.split("\n")[-3:]  # the three most urgent, one line each
    assert all(line.startswith("- ") for line in urgent), md
    assert not any(bad in line for line in urgent for bad in ("@", "**", "](", ">"))
    assert urgent[0].startswith("- ＠all 781") and urgent[1].startswith("- 粗 ＠all 2")


# --- report_base_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)//",
        "http://intra.example/r) @all [点我](http://evil.example",
        "data:text/html,x",
        "http://intra.example/a b",
    ],
)
def test_report_base_url_must_be_a_plain_http_url(url: str, tmp_path: Path) -> None:
    path = tmp_path / "stores.toml"
    path.write_text(
        f'report_base_url = "{url}"\n[stores."1000101"]\nto = ["a@example.com"]\n',
        encoding="utf-8",
    )
    with pytest.raises(UsageError, match="report_base_url") as caught:
        deliver.read_recipients(path)
    assert "evil" not in str(caught.value) and "javascript" not in str(caught.value)
    assert main(["daily", "--recipients", str(path), "--dry-run", "--out",
                 str(tmp_path / "r")]) == 2  # fmt: skip


def test_an_https_report_base_url_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "stores.toml"
    path.write_text(
        'report_base_url = "https://intra.example/reports/"\n'
        '[stores."1000101"]\nto = ["a@example.com"]\n',
        encoding="utf-8",
    )
    assert deliver.read_recipients(path).report_base_url == "https://intra.example/reports/"


# --- secrets --------------------------------------------------------------------------------------


def test_a_key_written_in_the_wrong_type_is_not_echoed(tmp_path: Path) -> None:
    config = tmp_path / "aftersales.toml"
    config.write_text(
        '[stores."1000101"]\nwecom = ["http://127.0.0.1:1/x?key=LEAKLITERAL_jkl"]\n'
        "dingtalk_secret = 12345678901234\n",
        encoding="utf-8",
    )
    with pytest.raises(UsageError) as caught:
        load_config(config)
    text = str(caught.value)
    assert "LEAKLITERAL" not in text and "12345678901234" not in text
    assert 'stores."1000101".wecom' in text and "<list" in text
    assert 'stores."1000101".dingtalk_secret' in text and "<int" in text
    recipients = tmp_path / "stores.toml"
    recipients.write_text(config.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        deliver.read_recipients(recipients, require_to=False)
    assert "LEAKLITERAL" not in str(caught.value)


@pytest.mark.parametrize("value", ["http://h/x?key=${WECOM_KEY", "http://h/x?key=${}", "${ K}"])
def test_an_unclosed_variable_reference_is_a_clear_error(value: str, tmp_path: Path) -> None:
    path = tmp_path / "stores.toml"
    path.write_text(f'[stores."1000101"]\nwecom = "{value}"\n', encoding="utf-8")
    with pytest.raises(UsageError, match="unclosed or invalid variable reference") as caught:
        deliver.read_recipients(path, env={"WECOM_KEY": "SECRETKEY"}, require_to=False)
    assert 'stores."1000101".wecom' in str(caught.value)
    assert "SECRETKEY" not in str(caught.value)


def test_webhook_keys_never_reach_a_report_kernel(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WECOM_KEY", "wk")
    monkeypatch.setenv("DINGTALK_TOKEN", "dt")
    monkeypatch.setenv("DINGTALK_SECRET", "ds")
    monkeypatch.setenv("AFTERSALES_SMTP_PASSWORD", "pw")
    monkeypatch.setenv("STORE_BOT", "named-anything")  # referenced by the recipients file
    monkeypatch.setenv("LANG_HINT", "kept")
    path = tmp_path / "stores.toml"
    path.write_text('[stores."1"]\nwecom = "http://h/x?key=${STORE_BOT}"\n', encoding="utf-8")
    deliver.read_recipients(path, require_to=False)
    env = engine.kernel_env({"AFTERSALES_REPORT": "1"})
    for name in ("WECOM_KEY", "DINGTALK_TOKEN", "DINGTALK_SECRET", "AFTERSALES_SMTP_PASSWORD",
                 "STORE_BOT"):  # fmt: skip
        assert name not in env
    assert env["LANG_HINT"] == "kept" and env["AFTERSALES_REPORT"] == "1"


@pytest.mark.slow
def test_a_running_report_kernel_has_no_webhook_key_in_its_environment(monkeypatch) -> None:
    # What the adversarial run read: /proc/<kernel pid>/environ while reports render.
    monkeypatch.setenv("WECOM_KEY", "LEAK-wecom")
    monkeypatch.setenv("DINGTALK_SECRET", "LEAK-ding")
    kernel = engine.get_kernel("python3", env={"AFTERSALES_REPORT": "scrub-test"})
    try:
        environ = Path(f"/proc/{kernel.pid}/environ").read_bytes()
    finally:
        kernel.shutdown()
    assert b"AFTERSALES_REPORT=scrub-test" in environ and b"LEAK-" not in environ


class Box:
    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server, session, envelope):
        self.received += 1
        return "250 OK"


def test_a_login_over_a_plain_connection_warns(capsys) -> None:
    def accept(server, session, envelope, mechanism, auth_data) -> AuthResult:
        return AuthResult(success=isinstance(auth_data, LoginPassword), handled=False)

    box = Box()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(),
                            auth_require_tls=False, authenticator=accept)  # fmt: skip
    controller.start()
    try:
        settings = smtp.SmtpSettings(host="127.0.0.1", port=controller.port, sender="r@x.example",
                                     security="none", user="u", password="PLAINPW")  # fmt: skip
        message = email.message.EmailMessage()
        message["Subject"], message["Message-ID"] = "x", "<1@x>"
        message.set_content("x")
        results = smtp.send_message(message, recipients=["a@x.example"], settings=settings)
    finally:
        controller.stop()
    assert [r.status for r in results] == ["sent"] and box.received == 1
    err = capsys.readouterr().err
    assert "login over an unencrypted connection" in err and "PLAINPW" not in err


# --- the command line -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option",
    [["--target-hours", "-5"], ["--target-hours", "nan"], ["--target-hours", "inf"],
     ["--target-hours", "0"], ["--published-hours", "-1"], ["--published-hours", "nan"],
     ["--star", "7"], ["--aftersales-rank", "1.5"], ["--rules", "/nonexistent.toml"]],
)  # fmt: skip
def test_impossible_numbers_and_a_missing_rules_file_are_usage_errors(option, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["report", "--store", "1000101", *option])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert option[0] in err and "Traceback" not in err


def test_impossible_per_store_inputs_in_the_config_are_named(tmp_path: Path) -> None:
    config = tmp_path / "aftersales.toml"
    config.write_text(
        '[stores."1"]\nstar = 7\ntarget_hours = -5\npublished_hours = nan\naftersales_rank = 1.5\n',
        encoding="utf-8",
    )
    with pytest.raises(UsageError) as caught:
        load_config(config)
    lines = str(caught.value).splitlines()
    assert len(lines) == 4
    for key in ("star", "target_hours", "published_hours", "aftersales_rank"):
        assert any(f'stores."1".{key} ' in line for line in lines), key


def test_dry_run_mail_shows_the_sender_the_real_send_uses(exports, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for key in ("HOST", "PORT", "SECURITY", "USER", "PASSWORD"):
        monkeypatch.delenv(f"AFTERSALES_SMTP_{key}", raising=False)
    monkeypatch.setenv("AFTERSALES_SMTP_FROM", "售后诊断 <report@example.com>")
    out = tmp_path / "reports"
    argv = ["email", str(exports), "--store", "1000101", "--to", "a@example.com", "--end", END,
            "--as-of", AS_OF, "--out", str(out), "--dry-run"]  # fmt: skip
    assert main(argv) == 0
    [eml] = (out / "outbox").glob("*.eml")
    parsed = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert parsed["From"] == "售后诊断 <report@example.com>"


def test_a_closed_stdout_ends_quietly(exports) -> None:
    # `aftersales validate … | head -c1`: the reader is gone before the output is written.
    run = subprocess.Popen(
        [sys.executable, "-m", "aftersales_kit", "validate", str(exports), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert run.stdout is not None
    run.stdout.close()
    _, err = run.communicate(timeout=120)
    assert run.returncode == 1
    assert b"Traceback" not in err and b"Exception ignored" not in err and b"BrokenPipe" not in err
