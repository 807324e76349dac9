"""Sends that are never repeated and runs that always end in one line: a full disk (a real tmpfs),
``kill -9`` while the SMTP server holds its reply, two ``daily`` runs on one folder, bots that
take the POST and never answer. The CLI runs as a subprocess, the servers on loopback."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from net import free_port
from test_push import BotServer

from aftersales_kit.cli import main
from aftersales_kit.deliver import daily, push, smtp
from aftersales_kit.deliver import mail as deliver
from aftersales_kit.files import folder_lock

END = "2026-03-31"
AS_OF = "2026-04-01 09:00"
pytestmark = pytest.mark.slow


class Mailbox:
    """aiosmtpd handler: records each DATA; with ``hold`` it waits that long before the 250,
    with ``gate`` until the test opens it."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.hold = 0.0
        self.gate: threading.Event | None = None  # when set: no reply until the test opens it

    async def handle_DATA(self, server, session, envelope):
        self.received.extend(envelope.rcpt_tos)
        if self.hold:
            await asyncio.sleep(self.hold)
        if self.gate is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, 120)
        return "250 Message accepted"


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    from aftersales_kit.demo.simulate import write_demo

    files = write_demo(tmp_path_factory.mktemp("demo"), stores=2, orders=150, end=date(2026, 3, 31))
    return files.exports


@pytest.fixture(scope="module")
def rendered(exports, tmp_path_factory) -> Path:
    """Both stores' reports and the index, rendered once; tests copy them (--deliver-only)."""
    out = tmp_path_factory.mktemp("rendered") / "reports"
    argv = ["batch", str(exports), "--out", str(out), "--end", END, "--as-of", AS_OF,
            "--workers", "2"]  # fmt: skip
    assert main(argv) == 0
    return out


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port  # type: ignore[attr-defined]
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def bots():
    with BotServer() as server:
        server.wecom_keys.update({"k1", "k2", "kE"})
        server.dingtalk_tokens.update({"t1": None})
        yield server


def _recipients(path: Path, bots: BotServer) -> Path:
    path.write_text(
        f"""[stores."1000101"]
to = ["m1@example.com"]
wecom = "{bots.wecom_url("k1")}"
dingtalk = "{bots.dingtalk_url("t1")}"

[stores."1000102"]
to = ["m2@example.com"]
wecom = "{bots.wecom_url("k2")}"

[estate]
wecom = "{bots.wecom_url("kE")}"
""",
        encoding="utf-8",
    )
    return path


EVERY_MAIL = ["m1@example.com", "m2@example.com"]
EVERY_PUSH = [("dingtalk", "t1"), ("wecom", "k1"), ("wecom", "k2"), ("wecom", "kE")]


def _env(mailbox: Mailbox) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_")}
    env.update(
        {
            "AFTERSALES_SMTP_HOST": "127.0.0.1",
            "AFTERSALES_SMTP_PORT": str(mailbox.port),  # type: ignore[attr-defined]
            "AFTERSALES_SMTP_SECURITY": "none",
            "AFTERSALES_SMTP_FROM": "售后诊断 <report@example.com>",
            "AFTERSALES_SMTP_BACKOFF_SECONDS": "0",
            "AFTERSALES_PUSH_BACKOFF_SECONDS": "0",
        }
    )
    return env


def _daily(exports: Path, recipients: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "aftersales_kit", "daily", str(exports), "--recipients",
            str(recipients), "--end", END, "--as-of", AS_OF, "--out", str(out),
            "--deliver-only", *extra]  # fmt: skip


def _pushes(bots: BotServer) -> list[tuple[str, str]]:
    return sorted((channel, key) for channel, key, _ in bots.received)


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text and "Exception ignored" not in text, text


# --- a full disk ----------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 8 MB tmpfs (needs mount rights: root in a container)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        # Never a silent skip: the full-disk behaviour is only checked on a real full disk.
        pytest.fail(
            f"the full-disk tests need a tmpfs (run make test as root, or with CAP_SYS_ADMIN): "
            f"{done.stderr.strip()}"
        )
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(disk: Path) -> Path:
    """Take every free block of ``disk``; returns the filler to delete."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as fh:
        for chunk in (1 << 16, 4096, 1):
            try:
                while True:
                    fh.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


def test_daily_on_a_full_disk_never_sends_twice_and_says_so_in_one_line(
    exports, rendered, mailbox, bots, small_disk, tmp_path
) -> None:
    out = small_disk / "reports"
    shutil.copytree(rendered, out)
    recipients = _recipients(tmp_path / "stores.toml", bots)
    # The sent-log's last block has room for about three lines once the disk is full: some sends
    # are announced and done, one may be done without its outcome logged, the rest are refused.
    log = out / "outbox" / deliver.SENT_LOG
    log.parent.mkdir(exist_ok=True)
    old = json.dumps({"fingerprint": "older-report", "recipient": "x@example.com"}) + "\n"
    log.write_text(old * ((4096 - 800) // len(old)), encoding="utf-8")
    filler = _fill(small_disk)

    first = subprocess.run(_daily(exports, recipients, out), env=_env(mailbox),
                           capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert first.returncode == 1
    _no_traceback(first.stderr)
    assert "运行记录无法写入 (run record not written)" in first.stderr
    assert "磁盘空间不足 (no space left on device)" in first.stderr
    assert not (out / f"daily-{END}.json").exists()
    sent_first = len(mailbox.received) + len(bots.received)
    assert 0 < sent_first < len(EVERY_MAIL) + len(EVERY_PUSH)  # the disk filled up mid-run
    assert "sent-log not writable" in first.stderr

    filler.unlink()
    second = subprocess.run(_daily(exports, recipients, out), env=_env(mailbox),
                            capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    _no_traceback(second.stderr)
    assert second.returncode == 0, second.stderr
    # Everything delivered exactly once over the two runs.
    assert sorted(mailbox.received) == EVERY_MAIL
    assert _pushes(bots) == EVERY_PUSH
    record = json.loads((out / f"daily-{END}.json").read_text(encoding="utf-8"))
    assert record["ok"] is True and record["error"] is None


def test_a_sent_log_line_that_does_not_fit_leaves_the_log_as_it_was_and_sends_nothing(
    mailbox, tmp_path, monkeypatch
) -> None:
    # The same rule without a tmpfs: a short write is undone, and the mail is not sent.
    from test_smtp_outcomes import _diagnosis, _message

    log = deliver.SentLog(tmp_path / deliver.SENT_LOG)
    log.append({"fingerprint": "k0", "recipient": "old@example.com", "status": "sent"})
    before = log.path.read_bytes()
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:10]))
    with pytest.raises(OSError):
        log.append({"fingerprint": "k1", "recipient": "a@example.com", "status": "pending"})
    assert log.path.read_bytes() == before
    monkeypatch.setattr(deliver, "build_message", lambda *a, **k: _message())
    settings = smtp.smtp_settings({}, env=_env(mailbox))
    outcome = deliver.deliver(
        _diagnosis(), report_html=b"<html></html>", to=["a@example.com"], settings=settings,
        outbox=tmp_path, key="k1",
    )  # fmt: skip
    assert [r.status for r in outcome.results] == ["failed"]
    assert "sent-log not writable" in outcome.results[0].detail
    assert mailbox.received == [] and log.path.read_bytes() == before


def test_report_on_a_full_disk_is_one_line_and_exit_1(exports, small_disk) -> None:
    out = small_disk / "reports"
    out.mkdir()
    _fill(small_disk)
    done = subprocess.run(
        [sys.executable, "-m", "aftersales_kit", "report", str(exports), "--store", "1000101",
         "--end", END, "--as-of", AS_OF, "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    _no_traceback(done.stderr)
    errors = [line for line in done.stderr.splitlines() if line.startswith("错误 (error)")]
    assert len(errors) == 1 and "no space left on device" in errors[0], done.stderr
    assert not list(out.rglob("*.html"))


# --- killed mid-send, two runs at once ------------------------------------------------------------


def test_a_run_killed_while_the_server_holds_its_reply_is_not_mailed_again(
    exports, rendered, mailbox, bots, tmp_path
) -> None:
    out = tmp_path / "reports"
    shutil.copytree(rendered, out)
    recipients = _recipients(tmp_path / "stores.toml", bots)
    mailbox.hold = 30
    run = subprocess.Popen(_daily(exports, recipients, out), env=_env(mailbox),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while (not mailbox.received or len(bots.received) < 4) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mailbox.received, "the first mail never reached the server"
    run.send_signal(signal.SIGKILL)
    run.wait()
    killed_during = list(mailbox.received)
    mailbox.hold = 0
    again = subprocess.run(_daily(exports, recipients, out), env=_env(mailbox),
                           capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    _no_traceback(again.stderr)
    # The mail caught mid-reply is logged "pending": skipped, with --resend named; the rest go.
    assert sorted(mailbox.received) == EVERY_MAIL
    assert Counter(mailbox.received)[killed_during[0]] == 1
    assert _pushes(bots) == EVERY_PUSH
    record = json.loads((out / f"daily-{END}.json").read_text(encoding="utf-8"))
    killed_store = "1000101" if killed_during[0] == "m1@example.com" else "1000102"
    mails = {sid: rec["mail"] for sid, rec in record["stores"].items()}
    assert mails[killed_store]["status"] == "skipped"
    assert "interrupted" in mails[killed_store]["recipients"][0]["detail"]
    assert "--resend" in mails[killed_store]["recipients"][0]["detail"]
    assert {m["status"] for sid, m in mails.items() if sid != killed_store} == {"sent"}
    # --resend sends the pending one (and everything else) again, on purpose.
    resent = subprocess.run([*_daily(exports, recipients, out), "--resend"], env=_env(mailbox),
                            capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert resent.returncode == 0, resent.stderr
    assert len(mailbox.received) == 2 * len(EVERY_MAIL)


def test_two_daily_runs_on_one_folder_send_each_mail_once(
    exports, rendered, mailbox, bots, tmp_path
) -> None:
    out = tmp_path / "reports"
    shutil.copytree(rendered, out)
    recipients = _recipients(tmp_path / "stores.toml", bots)
    mailbox.gate = threading.Event()  # the first run waits for its 250 until the second ended
    first = subprocess.Popen(_daily(exports, recipients, out), env=_env(mailbox),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not mailbox.received and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        second = subprocess.run(_daily(exports, recipients, out), env=_env(mailbox),
                                capture_output=True, text=True, timeout=300,
                                check=False)  # fmt: skip
    finally:
        mailbox.gate.set()
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    assert second.returncode == 1
    _no_traceback(second.stderr)
    assert f"another run is delivering from this folder, pid {first.pid}" in second.stderr
    assert sorted(mailbox.received) == EVERY_MAIL
    assert _pushes(bots) == EVERY_PUSH


def test_the_folder_lock_is_released_when_its_holder_ends(tmp_path: Path) -> None:
    from aftersales_kit.errors import DeliveryError

    with folder_lock(tmp_path, error=DeliveryError):
        with pytest.raises(DeliveryError, match=f"pid {os.getpid()}"):
            with folder_lock(tmp_path, error=DeliveryError):
                pass
    with folder_lock(tmp_path, error=DeliveryError):  # free again
        pass


# --- bots that take the POST and never answer -----------------------------------------------------


class SilentBot:
    """A webhook that reads the whole POST, then drops the connection (``drop``), never answers
    (``hang``), or answers 200 with ``body``."""

    def __init__(self, mode: str, body: bytes = b"") -> None:
        self.mode, self.body = mode, body
        self.posts = 0
        bot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                bot.posts += 1
                if bot.mode == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if bot.mode == "hang":
                    time.sleep(3)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(bot.body)))
                self.end_headers()
                self.wfile.write(bot.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cgi-bin/webhook/send?key=K"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize(
    ("mode", "body"), [("drop", b""), ("hang", b""), ("answer", b'{"errcode":0, "errmsg": ok!!')]
)
def test_a_webhook_that_took_the_post_without_a_usable_answer_is_not_posted_again(
    mode: str, body: bytes, tmp_path: Path
) -> None:
    from aftersales_kit.window import Window

    bot = SilentBot(mode, body)
    try:
        settings = push.PushSettings(timeout=1, retries=3, backoff_seconds=0)
        job = daily.PushJob("1000101", "wecom", bot.url, None, push.Message("t", "m"), "key1")
        kwargs = {
            "log": daily._Log(tmp_path / deliver.SENT_LOG),
            "window": Window(date(2026, 3, 2), date(2026, 3, 31)),
            "settings": settings,
            "dry_run": False,
            "outbox": tmp_path,
            "stamp": "s",
        }
        first = daily._run_push(job, resend=False, **kwargs)
        assert first.status == "unknown" and bot.posts == 1  # no retry of a POST that arrived
        assert "key=K" not in first.detail
        assert "--resend" in first.detail and not first.ok
        second = daily._run_push(job, resend=False, **kwargs)
        assert second.status == "skipped" and "--resend" in second.detail
        assert bot.posts == 1
        daily._run_push(job, resend=True, **kwargs)
        assert bot.posts == 2
    finally:
        bot.close()


def test_a_proxy_page_instead_of_the_bot_is_a_failure_tried_again_next_run(tmp_path) -> None:
    bot = SilentBot("answer", b"<html>proxy login</html>")
    try:
        result = push.send("wecom", push.Message("t", "m"), url=bot.url, store="1000101",
                           settings=push.PushSettings(timeout=1, retries=0))  # fmt: skip
        assert result.status == "failed" and "proxy login" in result.detail
    finally:
        bot.close()


def test_a_refused_connection_is_still_retried(tmp_path) -> None:
    port = free_port()  # nothing listens: the request never left
    sleeps: list[float] = []
    result = push.send("wecom", push.Message("t", "m"), url=f"http://127.0.0.1:{port}/x?key=K",
                       store="1000101", settings=push.PushSettings(timeout=1, retries=2,
                       backoff_seconds=0.01), sleep=sleeps.append)  # fmt: skip
    assert result.status == "failed" and result.attempts == 3 and len(sleeps) == 2


# --- nothing counted is not "all clear" ----------------------------------------------------------


def test_a_period_with_no_counted_orders_is_not_reported_as_all_delivered(
    exports, bots, tmp_path, monkeypatch, capsys
) -> None:
    # Exports that end months before the period: every store has nothing counted.
    monkeypatch.chdir(tmp_path)
    recipients = _recipients(tmp_path / "stores.toml", bots)
    out = tmp_path / "reports"
    argv = ["daily", str(exports), "--recipients", str(recipients), "--end", "2026-11-30",
            "--as-of", "2026-12-01 09:00", "--out", str(out), "--dry-run",
            "--workers", "2"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "全部送达" not in printed
    assert "2 stores have no counted orders: is the data current?" in printed
    record = json.loads((out / "daily-2026-11-30.json").read_text(encoding="utf-8"))
    assert record["stores_without_orders"] == ["1000101", "1000102"]


def test_a_store_missing_from_the_data_fails_its_mail_with_a_reason(
    exports, rendered, bots, tmp_path
) -> None:
    out = tmp_path / "reports"
    shutil.copytree(rendered, out)
    recipients = _recipients(tmp_path / "stores.toml", bots)
    with recipients.open("a", encoding="utf-8") as fh:
        fh.write('\n[stores."1000199"]\nto = ["m9@example.com"]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_")}
    done = subprocess.run([*_daily(exports, recipients, out), "--dry-run"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 1
    _no_traceback(done.stderr)
    [line] = [x for x in done.stderr.splitlines() if "1000199 邮件失败 (mail failed)" in x]
    assert line.endswith("no diagnosis for this store: nothing sent)")
    assert "店铺 (store) 1000199: 数据中没有这个店铺 (store not in the data)" in done.stderr
