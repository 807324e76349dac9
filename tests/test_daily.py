"""``aftersales daily`` end to end — real exports, real reports, a loopback SMTP server
(aiosmtpd) and both bots on a local HTTP server (test_push.BotServer)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from net import free_port
from test_push import BotServer

from aftersales_kit.cli import main

END = "2026-03-31"
AS_OF = "2026-04-01 09:00"
WINDOW = "2026-03-02_2026-03-31"
SECRET = "SECdaily"
pytestmark = pytest.mark.slow


class Mailbox:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    from aftersales_kit.demo.simulate import write_demo

    files = write_demo(tmp_path_factory.mktemp("demo"), stores=2, orders=150, end=date(2026, 3, 31))
    return files.exports


@pytest.fixture
def mailbox(monkeypatch):
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings = {"HOST": "127.0.0.1", "PORT": str(controller.port), "SECURITY": "none",
                "FROM": "售后诊断 <report@example.com>", "BACKOFF_SECONDS": "0"}  # fmt: skip
    for key, value in settings.items():
        monkeypatch.setenv(f"AFTERSALES_SMTP_{key}", value)
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def bots(monkeypatch):
    monkeypatch.setenv("AFTERSALES_PUSH_THROTTLE_SECONDS", "0.05")
    monkeypatch.setenv("AFTERSALES_PUSH_BACKOFF_SECONDS", "0")
    with BotServer() as server:
        server.wecom_keys.update({"k1", "kE"})
        server.throttle.add("k1")  # the first message of this bot is answered with 45009
        server.dingtalk_tokens.update({"t1": SECRET, "tE": None})
        yield server


def _recipients(path: Path, bots: BotServer) -> Path:
    path.write_text(
        f"""report_base_url = "http://files.example/reports"
[stores."1000101"]
name = "示例旗舰店"
to = ["m1@example.com"]
wecom = "{bots.base}/cgi-bin/webhook/send?key=${{WECOM_KEY}}"
dingtalk = "{bots.dingtalk_url("t1")}"
dingtalk_secret = "${{DT_SECRET}}"

[stores."1000102"]
to = ["m2@example.com"]
wecom = "{bots.wecom_url("broken")}"

[estate]
wecom = "{bots.wecom_url("kE")}"
dingtalk = "{bots.dingtalk_url("tE")}"
""",
        encoding="utf-8",
    )
    return path


def _mtimes(out: Path) -> dict[str, int]:
    files = [*out.glob(f"*/{WINDOW}.html"), *out.glob(f"*/{WINDOW}.json"), out / "index.html"]
    return {str(p): p.stat().st_mtime_ns for p in files}


def _counts(bots: BotServer) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for channel, key, _ in bots.received:
        counts[(channel, key)] = counts.get((channel, key), 0) + 1
    return counts


def test_daily_delivers_everywhere_once(exports, mailbox, bots, tmp_path, monkeypatch,
                                         capsys) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AFTERSALES_CONFIG", raising=False)
    monkeypatch.setenv("WECOM_KEY", "k1")
    monkeypatch.setenv("DT_SECRET", SECRET)
    recipients = _recipients(tmp_path / "stores.toml", bots)
    out = tmp_path / "reports"
    argv = ["daily", str(exports), "--recipients", str(recipients), "--end", END,
            "--as-of", AS_OF, "--out", str(out), "--workers", "2"]  # fmt: skip

    # 1. everything renders and goes out; the broken bot fails without stopping anything
    assert main(argv) == 1
    first = capsys.readouterr()
    assert sorted(r for rcpts, _ in mailbox.received for r in rcpts) == [
        "m1@example.com",
        "m2@example.com",
    ]
    assert _counts(bots) == {("wecom", "k1"): 1, ("dingtalk", "t1"): 1, ("wecom", "kE"): 1,
                             ("dingtalk", "tE"): 1}  # fmt: skip
    [store_msg] = bots.messages("wecom", "k1")
    content = store_msg["markdown"]["content"]
    assert content.startswith("### 售后时长日报 · 示例旗舰店")
    assert content.endswith(f"(http://files.example/reports/1000101/{WINDOW}.html)")
    [ding] = bots.messages("dingtalk", "t1")  # the server checked the signature
    assert ding["markdown"]["title"] == "售后时长日报 示例旗舰店"
    [estate] = bots.messages("dingtalk", "tE")
    assert "全部店铺（2家）" in estate["markdown"]["text"]
    assert "(http://files.example/reports/index.html)" in estate["markdown"]["text"]

    record = json.loads((out / f"daily-{END}.json").read_text(encoding="utf-8"))
    assert record["ok"] is False and record["date"] == END
    assert record["render"] == {"done": 2, "skipped": 0, "failed": []}
    assert record["data_quality"]["rows"] == 270 and record["data_quality"]["errors"] == []
    s1, s2 = record["stores"]["1000101"], record["stores"]["1000102"]
    assert s1["report"] == str(out / "1000101" / f"{WINDOW}.html")
    assert (s1["mail"]["status"], s2["mail"]["status"]) == ("sent", "sent")
    pushes = {(p["channel"], p["status"], p["attempts"]) for p in s1["push"]}
    assert pushes == {("wecom", "sent", 2), ("dingtalk", "sent", 1)}  # 45009: waited, resent
    [broken] = s2["push"]
    assert (broken["status"], broken["errcode"]) == ("failed", 93000)
    assert [p["status"] for p in record["estate"]["push"]] == ["sent", "sent"]
    assert "店铺 (store) 1000102 企业微信 (WeCom) 推送失败 (push failed) errcode=93000" in first.err
    assert "1000101 示例旗舰店" in first.out and "失败 (failed)" in first.out
    for text in (first.out, first.err, json.dumps(record)):
        assert "k1" not in text.replace("1000101", "") and SECRET not in text
    log = (out / "outbox" / "sent-log.jsonl").read_text(encoding="utf-8").splitlines()
    # One log for mail and push: every send announced "pending" before it, its outcome after.
    entries = [json.loads(line) for line in log]
    assert [e["status"] for e in entries].count("pending") == 7
    final = {e["recipient"]: e["status"] for e in entries}
    assert sorted(final.values()) == ["failed"] + ["sent"] * 6  # two mails, four pushes
    before = _mtimes(out)

    # 2. the same day again: nothing resent, nothing re-rendered; the broken bot still fails
    assert main(argv) == 1
    second = capsys.readouterr()
    assert len(mailbox.received) == 2
    assert len(bots.received) == 4
    assert _mtimes(out) == before
    record = json.loads((out / f"daily-{END}.json").read_text(encoding="utf-8"))
    assert record["render"] == {"done": 0, "skipped": 2, "failed": []}
    s1, s2 = record["stores"]["1000101"], record["stores"]["1000102"]
    assert (s1["mail"]["status"], s2["mail"]["status"]) == ("skipped", "skipped")
    assert {p["status"] for p in [*s1["push"], *record["estate"]["push"]]} == {"skipped"}
    assert "errcode=93000" in second.err

    # 3. the bot is fixed: only its message goes out, and the run is clean
    bots.wecom_keys.add("broken")
    assert main(argv) == 0
    capsys.readouterr()
    assert _counts(bots)[("wecom", "broken")] == 1 and len(bots.received) == 5
    assert len(mailbox.received) == 2 and _mtimes(out) == before

    # 3b. delivery only (after sharded batches): the reports as they are, still nothing resent
    assert main([*argv, "--deliver-only"]) == 0
    capsys.readouterr()
    assert len(bots.received) == 5 and len(mailbox.received) == 2 and _mtimes(out) == before
    record = json.loads((out / f"daily-{END}.json").read_text(encoding="utf-8"))
    assert record["deliver_only"] is True and record["render"]["done"] == 0

    # 4. --dry-run writes the mails and payloads, sends nothing
    assert main([*argv, "--dry-run"]) == 0
    capsys.readouterr()
    assert len(bots.received) == 5 and len(mailbox.received) == 2
    outbox = out / "outbox"
    assert (
        len(list(outbox.glob("1000101_*.eml"))) == 1
        and len(list(outbox.glob("1000102_*.eml"))) == 1
    )
    # The preview shows the sender the real run used (AFTERSALES_SMTP_FROM), not a placeholder.
    [eml] = outbox.glob("1000101_*.eml")
    assert b"From: =?utf-8?b?" in eml.read_bytes() and b"<report@example.com>" in eml.read_bytes()
    payloads = {
        (body["store"], body["channel"]): body
        for body in (json.loads(p.read_text(encoding="utf-8")) for p in outbox.glob("push_*.json"))
    }
    assert set(payloads) == {("1000101", "wecom"), ("1000101", "dingtalk"), ("1000102", "wecom"),
                             ("estate", "wecom"), ("estate", "dingtalk")}  # fmt: skip
    wecom = payloads[("1000101", "wecom")]["payload"]
    assert wecom["msgtype"] == "markdown"
    assert len(wecom["markdown"]["content"].encode("utf-8")) <= 4096
    ding = payloads[("1000101", "dingtalk")]
    assert ding["signed"] is True and set(ding["payload"]["markdown"]) == {"title", "text"}
    raw = "".join(p.read_text(encoding="utf-8") for p in outbox.glob("push_*.json"))
    assert bots.base not in raw and SECRET not in raw and "key=" not in raw


def test_a_missing_variable_stops_before_anything_runs(exports, bots, tmp_path, monkeypatch,
                                                       capsys) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WECOM_KEY", raising=False)
    monkeypatch.setenv("DT_SECRET", SECRET)
    recipients = _recipients(tmp_path / "stores.toml", bots)
    out = tmp_path / "reports"
    code = main(["daily", str(exports), "--recipients", str(recipients), "--end", END,
                 "--out", str(out), "--dry-run"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "WECOM_KEY" in err and 'stores."1000101".wecom' in err
    assert not list(out.glob("*/*.html")) and not bots.received


def test_a_rank_rate_added_to_stores_toml_re_renders_that_store_on_the_next_daily(
    exports, tmp_path, monkeypatch
) -> None:
    import shutil

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AFTERSALES_CONFIG", raising=False)
    data = tmp_path / "exports"
    shutil.copytree(exports, data)
    out = tmp_path / "reports"
    argv = ["daily", str(data), "--end", END, "--as-of", AS_OF, "--out", str(out),
            "--workers", "1", "--dry-run"]  # fmt: skip

    def render() -> dict[str, object]:
        main(argv)
        record = json.loads((out / f"daily-{END}.json").read_text(encoding="utf-8"))
        return dict(record["render"])

    assert render() == {"done": 2, "skipped": 0, "failed": []}
    assert render() == {"done": 0, "skipped": 2, "failed": []}
    toml = data / "stores.toml"
    text = toml.read_text(encoding="utf-8").replace(
        '[stores."1000102"]', '[stores."1000102"]\naftersales_rank = 0.1'
    )
    assert "aftersales_rank = 0.1" in text
    toml.write_text(text, encoding="utf-8")
    assert render() == {"done": 1, "skipped": 1, "failed": []}
    side = json.loads((out / "1000102" / f"{WINDOW}.json").read_text(encoding="utf-8"))
    assert side["summary"]["store_id"] == "1000102"
