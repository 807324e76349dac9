"""Email delivery against a real SMTP server on loopback (aiosmtpd with STARTTLS and AUTH)."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import io
import json
import re
import ssl
import struct
import subprocess
import zipfile
import zlib
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path

import polars as pl
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from net import free_port

from aftersales_kit.cli import deliver as cli_deliver
from aftersales_kit.deliver import mail as deliver
from aftersales_kit.deliver import smtp
from aftersales_kit.errors import DeliveryError, UsageError
from aftersales_kit.window import Window

USER, PASSWORD = "reporter", "s3cret-PW!x"
SENDER = "售后诊断 <report@example.com>"
# Bounded: Message-IDs, MIME boundaries and Excel date serials (46105.13538194444) hold long
# digit runs that are not phone numbers.
PHONE = re.compile(rb"(?<![\d.])1[3-9]\d{9}(?!\d)")
STORE = "1000101"
AS_OF = datetime(2026, 3, 31, 9, 0)
WINDOW = Window(start=date(2026, 3, 1), end=date(2026, 3, 30))


# --- fixtures: data, a real Diagnosis, a small report file ---------------------------------------


@pytest.fixture(scope="module")
def demo_frame() -> pl.DataFrame:
    from aftersales_kit.demo.simulate import generate

    return generate(stores=2, orders=300, end=WINDOW.end)


@pytest.fixture(scope="module")
def diagnosis(demo_frame: pl.DataFrame):
    from aftersales_kit.diagnose import diagnose_store
    from aftersales_kit.rules import load_rules

    return diagnose_store(
        demo_frame, store_id=STORE, window=WINDOW, rules=load_rules(), as_of=AS_OF
    )


@pytest.fixture(scope="module")
def charts(diagnosis) -> list[deliver.EmailChart]:
    # Rendered once: vl-convert PNGs are the slow part of building a message.
    return deliver.email_charts(diagnosis, domain="example.com")


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    path = tmp_path / "report.html"
    path.write_text("<html><body><h1>售后时长诊断报告</h1></body></html>", encoding="utf-8")
    return path


# --- fixtures: the SMTP server ------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class Mailbox:
    """aiosmtpd handler: records messages; refuses or defers on request."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []
        self.refuse: set[str] = set()  # 550 at RCPT
        self.defer_data = 0  # answer DATA with 421 this many times
        self.data_calls = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_calls += 1
        if self.defer_data > 0:
            self.defer_data -= 1
            return "421 4.3.2 try again later"
        self.received.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


def _authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def server(certificate: tuple[Path, Path]):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailbox = Mailbox()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        auth_require_tls=True,
        auth_required=True,
        authenticator=_authenticator,
    )
    try:
        controller.start()
        yield controller, mailbox
    finally:
        controller.stop()


@pytest.fixture
def settings(server, certificate: tuple[Path, Path]) -> smtp.SmtpSettings:
    controller, _ = server
    return smtp.SmtpSettings(
        host="127.0.0.1",
        port=controller.port,
        sender=SENDER,
        security="starttls",
        user=USER,
        password=PASSWORD,
        cafile=str(certificate[0]),
        timeout=10,
        retries=2,
        backoff_seconds=0.0,
    )


#: The report fingerprint the sent-log records (report.fingerprint in the commands).
REPORT_KEY = "report-key"


def _parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def _deliver(diagnosis, charts, report_file, settings, tmp_path, **kwargs):
    # The module's charts fixture avoids re-rendering PNGs for every test.
    return deliver.deliver(
        diagnosis,
        report_html=report_file,
        settings=settings,
        outbox=tmp_path / "outbox",
        charts=charts,
        **{"to": ["manager@example.com"], "key": REPORT_KEY, **kwargs},
    )


# --- message content -----------------------------------------------------------------------------


def test_subject_matches_the_issue_example(diagnosis) -> None:
    d = dataclasses.replace(
        diagnosis,
        store_name="示例旗舰店",
        kpis=dataclasses.replace(diagnosis.kpis, mean_hours=281.66),
        prev_kpis=dataclasses.replace(diagnosis.prev_kpis, mean_hours=251.48),
    )
    # 281.66 / 251.48 = 1.1200 → ↑12%
    assert deliver.subject(d) == "【售后时长诊断】示例旗舰店 03-01~03-30 平均 281.7 小时 ↑12%"
    assert deliver.subject(d, lang="en").startswith("[After-sales duration] 示例旗舰店 03-01~03-30")
    no_prev = dataclasses.replace(d, prev_kpis=dataclasses.replace(d.prev_kpis, mean_hours=None))
    assert deliver.subject(no_prev) == "【售后时长诊断】示例旗舰店 03-01~03-30 平均 281.7 小时"
    # A line break in a store name must not become a header injection.
    evil = dataclasses.replace(d, store_name="店\r\nBcc: x@evil.com")
    assert "\n" not in deliver.subject(evil) and "\r" not in deliver.subject(evil)


def test_sent_message_structure_and_content(
    diagnosis, charts, report_file, settings, server, tmp_path
) -> None:
    _, mailbox = server
    outcome = _deliver(diagnosis, charts, report_file, settings, tmp_path, cc=["boss@example.com"])
    assert [(r.recipient, r.status) for r in outcome.results] == [
        ("manager@example.com", "sent"),
        ("boss@example.com", "sent"),
    ]
    assert outcome.ok
    [(rcpts, raw)] = mailbox.received
    assert rcpts == ["manager@example.com", "boss@example.com"]
    msg = _parse(raw)

    assert msg["Subject"] == deliver.subject(diagnosis)
    assert msg["Subject"].startswith(f"【售后时长诊断】{diagnosis.store_name} 03-01~03-30 平均 ")
    assert msg.get_content_type() == "multipart/mixed"
    alternative, *attachments = msg.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, related = alternative.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, *images = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    assert 2 <= len(images) <= 3
    assert all(i.get_content_type() == "image/png" for i in images)

    report_name, xlsx_name = deliver.attachment_names(diagnosis)
    assert report_name == f"售后时长诊断_{diagnosis.store_name}_2026-03-01_2026-03-30.html"
    assert [a.get_filename() for a in attachments] == [report_name, xlsx_name]
    assert xlsx_name.startswith("售后行动清单_")
    assert re.search(r"filename\*(0\*)?=utf-8''%E5%94%AE", raw.decode("ascii"))  # RFC 2231
    assert all(i["Content-Disposition"].startswith("inline") for i in images)
    assert attachments[0].get_content().rstrip("\n") == report_file.read_text(encoding="utf-8")
    assert attachments[0].get_content_charset() == "utf-8"

    html = html_part.get_content()
    assert len(html.encode("utf-8")) < 100_000
    lowered = html.lower()
    assert "<script" not in lowered and "<svg" not in lowered and "data:" not in lowered
    cids = re.findall(r'src="cid:([^"]+)"', html)
    image_ids = {i["Content-ID"].strip("<>") for i in images}
    assert len(cids) == len(images) and set(cids) == image_ids
    assert all(i.get_content().startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    assert 'style="' in html  # CSS was inlined
    line = f"未完结服务单：{diagnosis.open_at_risk.height}单"
    assert line in html
    assert line in plain.get_content()
    if diagnosis.tomorrow is not None and diagnosis.tomorrow.mean_hours is not None:
        assert "明天：预计平均" in html and "明天：预计平均" in plain.get_content()

    workbook = pl.read_excel(io.BytesIO(attachments[1].get_content()), sheet_id=0)
    sheets = [
        "客服行动清单",
        "物流行动清单",
        "仓库行动清单",
        "未完结服务单(状态以导出时为准)",
        "历史服务单预警TOP100",
        "预警明细",
        "明天影响最大的服务单",
    ]
    # The manager views' sheets (商品售后, 审核人 …) follow the action lists.
    views = ("与京东时长不一致", "商品售后", "审核人", "处理人", "京东时长口径检验")
    assert [s for s in workbook if s not in views] == sheets
    top = workbook["历史服务单预警TOP100"]
    assert top.height == diagnosis.top100.height > 0
    assert top["联系电话(已脱敏)"].drop_nulls().str.contains(r"^\d{3}\*{4}\d{4}$").all()
    assert workbook["未完结服务单(状态以导出时为准)"].height == diagnosis.open_at_risk.height


def test_no_unmasked_phone_anywhere(demo_frame, diagnosis, charts, report_file, settings, server,
                                    tmp_path) -> None:  # fmt: skip
    _, mailbox = server
    phones = demo_frame.filter(pl.col("store_id") == STORE)["customer_phone"].drop_nulls()
    assert phones.str.contains(r"^1[3-9]\d{9}$").any()  # the input really has phone numbers
    _deliver(diagnosis, charts, report_file, settings, tmp_path)
    [(_, raw)] = mailbox.received
    blobs = {"raw": raw}
    for n, part in enumerate(_parse(raw).walk()):
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            blobs[f"{n}:{part.get_content_type()}"] = payload
            if part.get_content_type().endswith("sheet"):
                with zipfile.ZipFile(io.BytesIO(payload)) as z:
                    blobs.update({name: z.read(name) for name in z.namelist()})
    assert any(name.startswith("xl/") for name in blobs)  # the workbook was unpacked
    for name, blob in blobs.items():
        assert not PHONE.search(blob), name
        assert not any(p.encode() in blob for p in phones.to_list()), name


def test_sent_log_prevents_a_second_send(
    diagnosis, charts, report_file, settings, server, tmp_path
) -> None:
    _, mailbox = server
    first = _deliver(diagnosis, charts, report_file, settings, tmp_path)
    assert [r.status for r in first.results] == ["sent"]
    again = _deliver(diagnosis, charts, report_file, settings, tmp_path, to=["Manager@Example.com"])
    assert [r.status for r in again.results] == ["skipped"]
    assert len(mailbox.received) == 1
    forced = _deliver(diagnosis, charts, report_file, settings, tmp_path, resend=True)
    assert [r.status for r in forced.results] == ["sent"]
    assert len(mailbox.received) == 2

    log = (tmp_path / "outbox" / "sent-log.jsonl").read_text(encoding="utf-8")
    entries = [json.loads(line) for line in log.splitlines()]
    assert [e["recipient"] for e in entries] == ["manager@example.com"] * 4
    assert [e["status"] for e in entries] == ["pending", "sent"] * 2  # announced, then confirmed
    assert {e["store_id"] for e in entries} == {STORE}
    assert {(e["start"], e["end"]) for e in entries} == {("2026-03-01", "2026-03-30")}
    assert PASSWORD not in log


def test_permanent_refusal_of_one_recipient_does_not_stop_the_other(
    diagnosis, charts, report_file, settings, server, tmp_path
) -> None:
    _, mailbox = server
    mailbox.refuse = {"gone@example.com"}
    outcome = _deliver(
        diagnosis, charts, report_file, settings, tmp_path,
        to=["gone@example.com", "manager@example.com"],
    )  # fmt: skip
    by = {r.recipient: r for r in outcome.results}
    assert by["gone@example.com"].status == "failed" and by["gone@example.com"].code == 550
    assert by["gone@example.com"].attempts == 1  # a 5xx is not retried
    assert by["manager@example.com"].status == "sent"
    assert not outcome.ok
    assert [rcpts for rcpts, _ in mailbox.received] == [["manager@example.com"]]
    log = deliver.SentLog(tmp_path / "outbox" / "sent-log.jsonl")
    # The refused one is logged "failed", so a rerun tries it again; the delivered one is held.
    assert log.sent(fingerprint=REPORT_KEY) == {"manager@example.com": "sent"}


def test_transient_421_is_retried_with_backoff(server, settings) -> None:
    _, mailbox = server
    mailbox.defer_data = 2
    sleeps: list[float] = []
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "测试", SENDER, "a@example.com"
    message.set_content("你好")
    fast = dataclasses.replace(settings, backoff_seconds=0.01)
    [result] = smtp.send_message(message, recipients=["a@example.com"], settings=fast,
                                 sleep=sleeps.append)  # fmt: skip
    assert (result.status, result.attempts) == ("sent", 3)
    assert sleeps == [0.01, 0.02]
    assert mailbox.data_calls == 3 and len(mailbox.received) == 1

    mailbox.defer_data = 5  # more deferrals than retries: reported, not raised
    [gave_up] = smtp.send_message(message, recipients=["a@example.com"], settings=fast,
                                  sleep=sleeps.append)  # fmt: skip
    assert (gave_up.status, gave_up.code, gave_up.attempts) == ("failed", 421, 3)


def test_connection_refused_is_transient_then_reported(settings) -> None:
    closed = dataclasses.replace(settings, port=free_port(), retries=1)
    sleeps: list[float] = []
    [result] = smtp.send_message(EmailMessage(), recipients=["a@example.com"], settings=closed,
                                 sleep=sleeps.append)  # fmt: skip
    assert result.status == "failed" and result.code is None and result.attempts == 2
    assert "ConnectionRefusedError" in result.detail
    assert len(sleeps) == 1


def test_wrong_password_and_untrusted_certificate(settings) -> None:
    message = EmailMessage()
    message.set_content("x")
    wrong = dataclasses.replace(settings, password="not-the-password")
    with pytest.raises(DeliveryError, match="登录被拒绝") as exc:
        smtp.send_message(message, recipients=["a@example.com"], settings=wrong)
    assert "not-the-password" not in str(exc.value)
    # Verification is on by default: the self-signed certificate is refused without cafile.
    untrusted = dataclasses.replace(settings, cafile=None)
    with pytest.raises(DeliveryError, match="证书验证失败"):
        smtp.send_message(message, recipients=["a@example.com"], settings=untrusted)


def test_settings_from_environment_and_config() -> None:
    table = {"host": "smtp.example.com", "port": 465, "security": "ssl", "user": "u@example.com",
             "from": "报表 <u@example.com>"}  # fmt: skip
    env = {"AFTERSALES_SMTP_PASSWORD": "pw-from-env", "AFTERSALES_SMTP_PORT": "2465"}
    s = smtp.smtp_settings(table, env=env)
    assert (s.host, s.port, s.security, s.user, s.password) == (
        "smtp.example.com", 2465, "ssl", "u@example.com", "pw-from-env"
    )  # fmt: skip
    assert "pw-from-env" not in repr(s)
    only_env = smtp.smtp_settings(
        None,
        env={"AFTERSALES_SMTP_HOST": "h", "AFTERSALES_SMTP_FROM": "a@b.c",
             "AFTERSALES_SMTP_SECURITY": "none"},
    )  # fmt: skip
    assert (only_env.port, only_env.security, only_env.password) == (25, "none", None)
    with pytest.raises(DeliveryError, match="password"):
        smtp.smtp_settings({**table, "password": "in-file"}, env={})
    with pytest.raises(DeliveryError, match="AFTERSALES_SMTP_HOST"):
        smtp.smtp_settings({}, env={"AFTERSALES_SMTP_FROM": "a@b.c"})
    with pytest.raises(DeliveryError, match="tls"):
        smtp.smtp_settings(table, env={"AFTERSALES_SMTP_SECURITY": "tls"})


# --- PNG charts carry real glyphs ---------------------------------------------------------------


def _png_rows(data: bytes) -> list[bytes]:
    """Decode an 8-bit RGBA/RGB PNG into raw pixel rows (enough for vl-convert output)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, *_ = header
    assert depth == 8 and color in (2, 6)
    bpp = 4 if color == 6 else 3
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return rows


def test_png_chart_titles_render_real_cjk_glyphs() -> None:
    import altair as alt

    data = pl.DataFrame({"环节": ["审核", "入库"], "小时": [12.5, 30.0]})
    chart = alt.Chart(data).mark_bar().encode(x="小时:Q", y="环节:N")
    # Same length, different characters: tofu boxes would draw both titles identically.
    first = _png_rows(deliver.chart_png(chart, title="售后时长趋势", width=300))
    second = _png_rows(deliver.chart_png(chart, title="审核环节短板", width=300))
    again = _png_rows(deliver.chart_png(chart, title="售后时长趋势", width=300))
    band = slice(0, 40)  # the title sits in the top ~20 CSS px (40 px at scale 2)
    assert first == again  # rendering is deterministic, so a difference means different glyphs
    assert first[band] != second[band]
    assert first[60:] == second[60:]  # the plot itself is unchanged
    inked = [row for row in first[band] if len(set(row)) > 1]
    assert len(inked) >= 10  # the title really drew something


# --- recipients file and CLI ---------------------------------------------------------------------


def test_load_recipients(tmp_path: Path) -> None:
    path = tmp_path / "stores.toml"
    path.write_text(
        '[stores."1000101"]\nname = "示例旗舰店"\nto = ["a@b.com"]\ncc = ["c@d.com"]\n'
        '[stores."1000102"]\nto = "x@y.com"\n',
        encoding="utf-8",
    )
    assert deliver.load_recipients(path) == [
        deliver.StoreRecipients("1000101", ("a@b.com",), ("c@d.com",), "示例旗舰店"),
        deliver.StoreRecipients("1000102", ("x@y.com",), (), None),
    ]
    path.write_text('[stores."1"]\nto = []\n', encoding="utf-8")
    with pytest.raises(UsageError, match=r'stores\."1"\.to'):
        deliver.load_recipients(path)
    path.write_text('[stores."1"]\nto = ["a@b.com"]\nbcc = ["z@z.com"]\n', encoding="utf-8")
    with pytest.raises(UsageError, match="bcc"):
        deliver.load_recipients(path)
    with pytest.raises(UsageError, match="不存在"):
        deliver.load_recipients(tmp_path / "missing.toml")


def test_build_message_rejects_bad_addresses(diagnosis, charts, report_file) -> None:
    with pytest.raises(UsageError, match="invalid email address"):
        deliver.build_message(diagnosis, report_html=report_file, sender=SENDER,
                              to=["not-an-address"], charts=charts)  # fmt: skip
    with pytest.raises(UsageError, match="no recipients"):
        deliver.build_message(diagnosis, report_html=report_file, sender=SENDER, to=[],
                              charts=charts)  # fmt: skip


# --- the command line (dry run and a real send), reusing an up-to-date report ---------------------


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from aftersales_kit.demo.simulate import write_demo

    return write_demo(tmp_path_factory.mktemp("data"), stores=2, orders=300, end=WINDOW.end).parquet


def _existing_report(out: Path) -> Path:
    from aftersales_kit.render.report import report_path

    path = report_path(out, store=STORE, window=WINDOW)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("<html><body>已生成的报告</body></html>", encoding="utf-8")
    return path


CLI_WINDOW = ["--start", "2026-03-01", "--end", "2026-03-30", "--as-of", "2026-03-31 09:00"]


def _current_report(out: Path, data: Path) -> Path:
    """An existing report whose sidecar has the fingerprint the email computes (so it is reused)."""
    import argparse

    from aftersales_kit.render import report

    path = _existing_report(out)
    args = argparse.Namespace(
        data=[str(data)], rules=None, start="2026-03-01", end="2026-03-30",
        as_of="2026-03-31 09:00", config=None, skip_bad_rows=False, store_id=None,
    )  # fmt: skip
    diagnoses, paths, digests = cli_deliver._diagnoses(args, [STORE])
    d = diagnoses[STORE]
    params = deliver.report_params(d, data=paths, rules=None, lang="zh", as_of=args.as_of)
    key = deliver.report_key(d, params=params, rows=digests[STORE], as_of_given=True)
    report.write_sidecar(path, {"fingerprint": key})
    return path


def test_cli_dry_run_writes_eml(demo_files, tmp_path, monkeypatch, capsys) -> None:
    from aftersales_kit.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AFTERSALES_CONFIG", raising=False)
    out = tmp_path / "reports"
    _current_report(out, demo_files)
    code = main(["email", str(demo_files), "--store", STORE, "--to", "a@example.com",
                 *CLI_WINDOW, "--out", str(out), "--dry-run"])  # fmt: skip
    assert code == 0
    [line] = capsys.readouterr().out.splitlines()
    eml = Path(line)
    assert eml.parent == out / "outbox" and eml.suffix == ".eml"
    raw = eml.read_bytes()
    assert b"\r\n" in raw and not re.search(rb"[^\r]\n", raw)  # CRLF throughout
    msg = _parse(raw)
    assert msg["To"] == "a@example.com"
    assert msg["Subject"].startswith("【售后时长诊断】示例旗舰店 03-01~03-30 平均 ")
    report = next(p for p in msg.iter_attachments() if p.get_content_type() == "text/html")
    assert "已生成的报告" in report.get_content()  # the up-to-date report was reused
    assert not (out / "outbox" / "sent-log.jsonl").exists()  # nothing was sent


def test_cli_all_dry_run_uses_the_recipients_file(demo_files, tmp_path, monkeypatch,
                                                  capsys) -> None:  # fmt: skip
    from aftersales_kit.cli import main

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "reports"
    _existing_report(out)
    (tmp_path / "stores.toml").write_text(
        f'[stores."{STORE}"]\nname = "旗舰店（华东）"\n'
        'to = ["a@example.com"]\ncc = ["c@example.com"]\n',
        encoding="utf-8",
    )
    assert main(["email", str(demo_files), "--all", *CLI_WINDOW, "--out", str(out),
                 "--dry-run"]) == 0  # fmt: skip
    msg = _parse(Path(capsys.readouterr().out.strip()).read_bytes())
    assert (msg["To"], msg["Cc"]) == ("a@example.com", "c@example.com")
    assert "旗舰店（华东）" in msg["Subject"]
    assert main(["email", "--all", "--store", STORE, "--dry-run"]) == 2  # UsageError
    assert main(["email", "--store", STORE, "--dry-run"]) == 2  # --to missing


def test_cli_send_reports_each_recipient(demo_files, server, certificate, tmp_path, monkeypatch,
                                         capsys) -> None:  # fmt: skip
    from aftersales_kit.cli import main

    controller, mailbox = server
    mailbox.refuse = {"gone@example.com"}
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AFTERSALES_CONFIG", raising=False)
    for key, value in {"HOST": "127.0.0.1", "PORT": str(controller.port), "USER": USER,
                       "PASSWORD": PASSWORD, "SECURITY": "starttls", "FROM": SENDER,
                       "CAFILE": str(certificate[0]), "BACKOFF_SECONDS": "0"}.items():  # fmt: skip
        monkeypatch.setenv(f"AFTERSALES_SMTP_{key}", value)
    out = tmp_path / "reports"
    _existing_report(out)
    argv = ["email", str(demo_files), "--store", STORE, "--to", "gone@example.com",
            "--to", "a@example.com", *CLI_WINDOW, "--out", str(out)]  # fmt: skip
    assert main(argv) == 1
    first = capsys.readouterr()
    assert f"{STORE}\tgone@example.com\tfailed 550" in first.out
    assert f"{STORE}\ta@example.com\tsent 250" in first.out
    assert main(argv) == 1  # the refused one still fails; the delivered one is not sent again
    second = capsys.readouterr()
    assert f"{STORE}\ta@example.com\tskipped" in second.out
    assert [rcpts for rcpts, _ in mailbox.received] == [["a@example.com"]]
    log = (out / "outbox" / "sent-log.jsonl").read_text(encoding="utf-8")
    for text in (first.out, first.err, second.out, second.err, log):
        assert PASSWORD not in text


@pytest.mark.slow
def test_stale_report_is_rendered_and_mailed_without_phones(demo_files, charts, settings, server,
                                                            tmp_path) -> None:  # fmt: skip
    import os

    from aftersales_kit.diagnose import diagnose_store
    from aftersales_kit.rules import load_rules

    _, mailbox = server
    frame = pl.read_parquet(demo_files)
    d = diagnose_store(frame, store_id=STORE, window=WINDOW, rules=load_rules(), as_of=AS_OF)
    out = tmp_path / "reports"
    stale = _existing_report(out)
    os.utime(stale, (0, 0))  # older than the data: must be rendered again
    path = deliver.ensure_report(d, out_dir=out, data=[demo_files], rules=None, lang="zh",
                                 as_of=None)  # fmt: skip
    assert path == stale
    html = path.read_text(encoding="utf-8")
    assert "已生成的报告" not in html and d.store_name in html
    deliver.deliver(d, report_html=path, to=["a@example.com"], settings=settings,
                    outbox=tmp_path / "outbox", charts=charts, key=REPORT_KEY)  # fmt: skip
    [(_, raw)] = mailbox.received
    phones = [p.encode() for p in frame["customer_phone"].drop_nulls().to_list()]
    for part in _parse(raw).walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            assert not PHONE.search(payload), part.get_content_type()
            assert not any(p in payload for p in phones), part.get_content_type()


def test_zip_report_attaches_the_report_zipped(diagnosis, charts, report_file) -> None:
    import io
    import zipfile

    message = deliver.build_message(
        diagnosis,
        report_html=report_file,
        sender=SENDER,
        to=["a@example.com"],
        charts=charts,
        zip_report=True,
    )
    parsed = _parse(message.as_bytes())
    html_name, _ = deliver.attachment_names(diagnosis)
    zip_name, xlsx_name = deliver.attachment_names(diagnosis, zipped=True)
    attachments = list(parsed.iter_attachments())
    assert [a.get_filename() for a in attachments] == [zip_name, xlsx_name]
    assert zip_name == html_name.removesuffix(".html") + ".zip"
    assert attachments[0].get_content_type() == "application/zip"
    with zipfile.ZipFile(io.BytesIO(attachments[0].get_content())) as archive:
        assert archive.namelist() == [html_name]
        assert archive.read(html_name) == report_file.read_bytes()
    assert not [p for p in parsed.walk() if p.get_filename() == html_name]  # no bare .html
    text = parsed.get_body(("plain",)).get_content()
    assert f"完整交互式报告在附件「{zip_name}」中，解压后用浏览器打开" in text
    html = parsed.get_body(("html",)).get_content()
    assert zip_name in html
