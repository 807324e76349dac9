"""SMTP outcomes: a server that never answers the end of DATA; one recipient failing."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from net import free_port

from aftersales_kit.deliver import mail as deliver
from aftersales_kit.deliver import smtp
from aftersales_kit.demo import simulate as demo
from aftersales_kit.diagnose import diagnose_store
from aftersales_kit.model import Diagnosis
from aftersales_kit.rules import load_rules
from aftersales_kit.window import Window


class Server:
    """aiosmtpd handler: ``silent`` swallows DATA without a reply; ``defer`` 4xx's RCPT forever."""

    def __init__(self) -> None:
        self.silent = False
        self.defer: set[str] = set()
        self.received: list[list[str]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.defer:
            return "450 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(list(envelope.rcpt_tos))  # the mail is queued here...
        if self.silent:
            await asyncio.sleep(30)  # ...but the reply never comes in time
        return "250 Message accepted"


@pytest.fixture
def server():
    handler = Server()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


def _settings(controller: Controller) -> smtp.SmtpSettings:
    return smtp.SmtpSettings(
        host="127.0.0.1",
        port=controller.port,
        sender="report@example.com",
        security="none",
        timeout=5,
        data_timeout=1.0,
        retries=2,
        backoff_seconds=0.0,
    )


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "report@example.com"
    message["To"] = "a@example.com"
    message["Subject"] = "诊断"
    message["Message-ID"] = "<x@example.com>"
    message.set_content("hello")
    return message


def _diagnosis() -> Diagnosis:
    """A real store diagnosis from a small demo frame."""
    return diagnose_store(
        demo.generate(stores=1, orders=40, end=date(2026, 3, 31)),
        store_id="1000101",
        window=Window(start=date(2026, 3, 2), end=date(2026, 3, 31)),
        rules=load_rules(),
        as_of=datetime(2026, 4, 1, 9, 0),
    )


def test_smtp_timeout_bounds_the_wait_for_the_reply_to_data(server) -> None:
    # A relay that takes the message and never answers must not hold a run for RFC 5321's
    # 10 minutes: AFTERSALES_SMTP_TIMEOUT bounds every wait, the end of DATA included.
    controller, handler = server
    handler.silent = True
    env = {"AFTERSALES_SMTP_TIMEOUT": "2", "AFTERSALES_SMTP_RETRIES": "2",
           "AFTERSALES_SMTP_BACKOFF_SECONDS": "0", "AFTERSALES_SMTP_SECURITY": "none"}  # fmt: skip
    settings = smtp.smtp_settings(
        {"host": "127.0.0.1", "port": controller.port, "from": "r@example.com"}, env=env
    )
    assert settings.data_timeout is None  # not set: the session timeout applies
    began = time.monotonic()
    results = smtp.send_message(_message(), recipients=["a@example.com"], settings=settings)
    elapsed = time.monotonic() - began
    assert [r.status for r in results] == ["unknown"]
    assert 1.5 < elapsed < 6  # about the 2 s timeout, once: an unanswered DATA is not retried
    assert len(handler.received) == 1
    # A slow scanning relay can still be given longer, explicitly.
    longer = smtp.smtp_settings(
        {"host": "h", "from": "s@x"}, env={"AFTERSALES_SMTP_DATA_TIMEOUT": "900"}
    )
    assert longer.data_timeout == 900.0


def test_no_reply_after_data_is_unknown_and_not_resent(
    server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller, handler = server
    handler.silent = True
    began = time.monotonic()
    results = smtp.send_message(
        _message(), recipients=["a@example.com", "b@example.com"], settings=_settings(controller)
    )
    assert [r.status for r in results] == ["unknown", "unknown"]
    assert "--resend" in results[0].detail
    assert len(handler.received) == 1  # sent once: no automatic retry of an ambiguous DATA
    assert time.monotonic() - began < 10

    # Through deliver(): the sent-log says "unknown"; a rerun skips; --resend sends again.
    d = _diagnosis()
    handler.received.clear()
    kwargs = {
        "report_html": b"<html></html>",
        "to": ["a@example.com"],
        "settings": _settings(controller),
        "outbox": tmp_path,
        "key": "k1",
    }
    # The message itself is not under test here: a small one keeps the silent server quick.
    monkeypatch.setattr(deliver, "build_message", lambda *a, **k: _message())
    first = deliver.deliver(d, **kwargs)
    assert [r.status for r in first.results] == ["unknown"] and not first.ok
    log = (tmp_path / deliver.SENT_LOG).read_text(encoding="utf-8")
    assert '"status": "unknown"' in log
    handler.silent = False
    second = deliver.deliver(d, **kwargs)
    assert [r.status for r in second.results] == ["skipped"]
    assert "unknown" in second.results[0].detail
    assert len(handler.received) == 1
    third = deliver.deliver(d, resend=True, **kwargs)
    assert [r.status for r in third.results] == ["sent"]
    assert len(handler.received) == 2


def test_one_failing_recipient_does_not_block_the_others(server) -> None:
    controller, handler = server
    handler.defer = {"busy@example.com"}
    results = smtp.send_message(
        _message(),
        recipients=["a@example.com", "busy@example.com", "b@example.com"],
        settings=_settings(controller),
    )
    status = {r.recipient: r.status for r in results}
    assert status == {
        "a@example.com": "sent",
        "busy@example.com": "failed",
        "b@example.com": "sent",
    }
    assert handler.received[0] == ["a@example.com", "b@example.com"]  # delivered at once
    assert all("busy@example.com" not in rcpts for rcpts in handler.received)
