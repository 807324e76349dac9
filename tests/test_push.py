"""Issue 14: 企业微信 / 钉钉 push — the message, the bots' contracts, retries, the recipients file.

``BotServer`` is a local HTTP server speaking both bots' request/response contracts (JSON shape,
``errcode``, the 4096-byte markdown limit, 钉钉 signature check, 45009 throttle); test_daily.py
uses it too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import urllib.parse
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest

from aftersales_kit.deliver import mail as deliver
from aftersales_kit.deliver import push
from aftersales_kit.errors import UsageError

END = "2026-03-31"
AS_OF = "2026-04-01 09:00"


# --- a local server with both bots' contracts ----------------------------------------------------


class BotServer:
    """企业微信 ``/cgi-bin/webhook/send?key=K`` and 钉钉 ``/robot/send?access_token=T``.

    ``wecom_keys`` / ``dingtalk_tokens`` are the bots that exist (token → secret or None);
    ``throttle`` holds keys answered once with 45009; ``fail_http`` holds keys answered once
    with HTTP 503. ``received`` lists (channel, key, payload) of accepted messages.
    """

    def __init__(self) -> None:
        self.wecom_keys: set[str] = set()
        self.dingtalk_tokens: dict[str, str | None] = {}
        self.throttle: set[str] = set()
        self.fail_http: set[str] = set()
        self.received: list[tuple[str, str, dict]] = []
        self.requests = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def wecom_url(self, key: str) -> str:
        return f"{self.base}/cgi-bin/webhook/send?key={key}"

    def dingtalk_url(self, token: str) -> str:
        return f"{self.base}/robot/send?access_token={token}"

    def messages(self, channel: str, key: str) -> list[dict]:
        return [p for c, k, p in self.received if (c, k) == (channel, key)]

    def answer(self, path: str, body: bytes) -> tuple[int, dict]:
        url = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(url.query))
        try:
            data = json.loads(body.decode("utf-8"))
        except ValueError:
            return 200, {"errcode": 40000, "errmsg": "invalid json"}
        with self.lock:
            self.requests += 1
            if url.path == "/cgi-bin/webhook/send":
                return self._wecom(query.get("key", ""), data)
            if url.path == "/robot/send":
                return self._dingtalk(query, data)
        return 404, {"errcode": 404, "errmsg": "not found"}

    def _wecom(self, key: str, data: dict) -> tuple[int, dict]:
        if key in self.fail_http:
            self.fail_http.discard(key)
            return 503, {}
        if key not in self.wecom_keys:
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url, hint: [1]"}
        content = (data.get("markdown") or {}).get("content")
        if data.get("msgtype") != "markdown" or not isinstance(content, str) or not content:
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        if len(content.encode("utf-8")) > push.MAX_BYTES:
            return 200, {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
        if key in self.throttle:
            self.throttle.discard(key)
            return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}
        self.received.append(("wecom", key, data))
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _dingtalk(self, query: dict[str, str], data: dict) -> tuple[int, dict]:
        token = query.get("access_token", "")
        if token not in self.dingtalk_tokens:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}
        secret = self.dingtalk_tokens[token]
        if secret is not None:
            stamp = query.get("timestamp", "")
            if not stamp.isdigit() or abs(time.time() * 1000 - int(stamp)) > 3_600_000:
                return 200, {"errcode": 310000, "errmsg": "timestamp is invalid"}
            expected = base64.b64encode(
                hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
            ).decode()
            if query.get("sign") != expected:
                return 200, {"errcode": 310000, "errmsg": "sign not match"}
        md = data.get("markdown") or {}
        if data.get("msgtype") != "markdown" or not md.get("title") or not md.get("text"):
            return 200, {"errcode": 40035, "errmsg": "缺少参数 markdown"}
        self.received.append(("dingtalk", token, data))
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, answer = server.answer(self.path, self.rfile.read(length))
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> BotServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def bots():
    with BotServer() as server:
        yield server


FAST = push.PushSettings(timeout=5, retries=3, backoff_seconds=1.0, throttle_seconds=7.0)


class Sleeps(list):
    """Records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# --- a real diagnosis -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def diagnoses(tmp_path_factory):
    from aftersales_kit.demo.simulate import write_demo
    from aftersales_kit.diagnose import diagnose
    from aftersales_kit.load import load
    from aftersales_kit.rules import load_rules
    from aftersales_kit.window import parse_as_of, parse_window

    files = write_demo(tmp_path_factory.mktemp("demo"), stores=2, orders=150, end=date(2026, 3, 31))
    loaded = load([files.exports])
    rules = load_rules()
    as_of = parse_as_of(AS_OF)
    window = parse_window(None, end=END, rules=rules, as_of=as_of)
    result = diagnose(loaded.frame, window=window, rules=rules, as_of=as_of)
    return result, loaded.frame


# --- the message ----------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", range(4))
def test_fit_bytes_never_cuts_a_character(prefix: int) -> None:
    body = "a" * prefix + "店" * 3000 + "\n" + "尾"
    fitted = push.fit_bytes(body)
    raw = fitted.encode("utf-8")
    assert len(raw) <= push.MAX_BYTES
    assert raw.decode("utf-8") == fitted  # whole characters only
    assert fitted.endswith("…") and fitted.startswith("a" * prefix + "店")
    assert push.fit_bytes("短消息") == "短消息"


def test_compose_drops_optional_lines_first_and_keeps_the_link() -> None:
    lines = ["### 标题", "必需的一行", "- 可选 1 " + "店" * 40, "- 可选 2 " + "店" * 40]
    link = "[查看完整报告](http://files.example/r.html)"
    full = push.compose(lines, optional=[2, 3], tail=link)
    assert full.split("\n") == [*lines, link]
    limit = len("\n".join([*lines[:3], link]).encode()) + 1
    shorter = push.compose(lines, optional=[2, 3], tail=link, limit=limit)
    assert shorter.split("\n") == [*lines[:3], link]  # the last optional line went first
    assert push.compose(lines, optional=[2, 3], tail=link, limit=80).split("\n") == [
        *lines[:2],
        link,
    ]
    tiny = push.compose(lines, optional=[2, 3], tail=link, limit=66)
    assert len(tiny.encode()) <= 66 and tiny.endswith("…\n" + link) and tiny.startswith("### 标题")


def test_store_message_has_the_figures_and_no_personal_data(diagnoses) -> None:
    from aftersales_kit import format as fmt

    result, frame = diagnoses
    d = max(result.values(), key=lambda d: sum(f.height for f in d.team_actions.values()))
    url = push.report_url("http://files.example/reports/", f"{d.store_id}/报告 1.html")
    message = push.store_message(d, report_url=url)
    md = message.markdown
    assert len(md.encode()) <= push.MAX_BYTES
    assert message.title == f"售后时长日报 {d.store_name}"
    assert md.startswith(f"### 售后时长日报 · {d.store_name}")
    assert f"**平均 {fmt.hours(d.kpis.mean_hours)}**" in md and "提示线 60小时" in md
    assert fmt.delta_pct(d.kpis.mean_hours, previous=d.prev_kpis.mean_hours) in md
    assert f"明天预计 {fmt.hours(d.tomorrow.mean_hours)}" in md
    state = {"triggered": "已触发", "cannot_judge": "无法判断", "not_triggered": "未触发"}
    assert state[d.warning.state] in md
    for team, label in (("cs", "客服"), ("logistics", "物流"), ("warehouse", "仓库")):
        rows = d.team_actions[team].filter(pl.col("will_count"))
        over = int(rows["breached"].sum())
        due = rows.filter(~pl.col("breached") & (pl.col("hours_to_breach") <= 24)).height
        assert f"- {label}：超预警线 {over} 单，即将到期 {due} 单" in md
    urgent = push.urgent_orders(d)
    assert urgent and len(urgent) <= 3
    all_due = sorted(
        (left, sid) for f in d.team_actions.values() for sid, left, counts in
        f.select("service_id", "hours_to_breach", "will_count").iter_rows()
        if left is not None and counts
    )  # fmt: skip
    assert urgent[0][0] == all_due[0][1]  # the most overdue first
    for sid, _, left in urgent:
        words = f"超预警线{fmt.hours(-left)}" if left < 0 else f"剩{fmt.hours(left)}"
        assert f"- {sid}（" in md and words in md
    assert md.endswith(
        f"[查看完整报告](http://files.example/reports/{d.store_id}/%E6%8A%A5%E5%91%8A%201.html)"
    )
    for column in ("customer_name", "customer_phone", "address"):
        if column in frame.columns:
            for value in frame[column].drop_nulls().unique().to_list()[:200]:
                assert str(value) not in md, column
    english = push.store_message(d, lang="en").markdown
    assert "After-sales daily" in english and "Tomorrow projected" in english
    assert "[" not in english  # no link without report_base_url


def test_store_name_cannot_inject_markup(diagnoses) -> None:
    result, _ = diagnoses
    d = next(iter(result.values()))
    name = "坏店[点我](http://evil.example)\n### 假标题 " + "长" * 100
    md = push.store_message(d, store_name=name).markdown
    assert "](http://evil" not in md and "\n### 假标题" not in md
    heading = md.split("\n")[0]
    assert len(heading) < 80 and heading.endswith("…")


def test_estate_message_lists_the_worst_stores(diagnoses) -> None:
    from aftersales_kit import format as fmt

    result, _ = diagnoses
    rows = list(result.values())
    md = push.estate_message(rows, index_url="http://files.example/index.html").markdown
    assert md.startswith(f"### 售后时长日报 · 全部店铺（{len(rows)}家）")
    worst = max(rows, key=lambda d: d.kpis.mean_hours)
    first = md.split("**平均时长最高的店铺**\n")[1].split("\n")[0]
    assert first.startswith(f"- {worst.store_name}：{fmt.hours(worst.kpis.mean_hours)}")
    over = sum(d.open_split()["over"] for d in rows)
    assert f"超预警线 {over} 单" in md
    assert md.endswith("[店铺总览](http://files.example/index.html)")


# --- the bots -------------------------------------------------------------------------------------


MESSAGE = push.Message(title="售后时长日报 测试店", markdown="### 测试\n- 一行\n- 两行")


def test_wecom_send_and_the_45009_throttle(bots) -> None:
    bots.wecom_keys.add("k1")
    bots.throttle.add("k1")
    sleeps = Sleeps()
    result = push.send(
        "wecom", MESSAGE, url=bots.wecom_url("k1"), store="1000101", settings=FAST, sleep=sleeps
    )
    assert (result.status, result.errcode, result.attempts) == ("sent", 0, 2)
    assert sleeps == [FAST.throttle_seconds]  # waited for the next minute, once
    [payload] = bots.messages("wecom", "k1")
    assert payload == {"msgtype": "markdown", "markdown": {"content": MESSAGE.markdown}}


def test_wecom_errcode_is_a_clear_failure(bots) -> None:
    result = push.send(
        "wecom", MESSAGE, url=bots.wecom_url("nope"), store="1000102", settings=FAST,
        sleep=Sleeps(),
    )  # fmt: skip
    assert (result.status, result.errcode) == ("failed", 93000)
    line = result.describe()
    for part in ("1000102", "企业微信", "errcode=93000", "errmsg=invalid webhook url"):
        assert part in line
    assert "nope" not in line  # never the key


def test_the_server_enforces_4096_bytes_and_messages_fit(bots, diagnoses) -> None:
    bots.wecom_keys.add("k1")
    big = push.Message(title="t", markdown="店" * 1400)  # 4200 bytes
    result = push.send("wecom", big, url=bots.wecom_url("k1"), store="s", settings=FAST)
    assert (result.status, result.errcode) == ("failed", 40058)
    result_, _ = diagnoses
    d = next(iter(result_.values()))
    message = push.store_message(d, store_name="店" * 5000, report_url="http://x/" + "y" * 3000)
    assert len(message.markdown.encode()) <= push.MAX_BYTES
    sent = push.send("wecom", message, url=bots.wecom_url("k1"), store="s", settings=FAST)
    assert sent.status == "sent"


def test_dingtalk_signature_is_verified(bots) -> None:
    bots.dingtalk_tokens.update({"signed": "SECabc", "plain": None})
    good = push.send(
        "dingtalk", MESSAGE, url=bots.dingtalk_url("signed"), secret="SECabc", store="s",
        settings=FAST,
    )  # fmt: skip
    assert good.status == "sent"
    [payload] = bots.messages("dingtalk", "signed")
    assert payload["markdown"]["title"] == MESSAGE.title
    assert payload["markdown"]["text"] == "### 测试\n\n- 一行\n\n- 两行"
    wrong = push.send(
        "dingtalk", MESSAGE, url=bots.dingtalk_url("signed"), secret="SECwrong", store="s",
        settings=FAST,
    )  # fmt: skip
    assert (wrong.status, wrong.errcode, wrong.errmsg) == ("failed", 310000, "sign not match")
    assert "钉钉" in wrong.describe()
    plain = push.send("dingtalk", MESSAGE, url=bots.dingtalk_url("plain"), store="s", settings=FAST)
    assert plain.status == "sent"


def test_dingtalk_sign_matches_the_documented_recipe() -> None:
    secret, stamp = "SEC000", 1_700_000_000_000
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert push.dingtalk_sign(secret, timestamp_ms=stamp) == expected
    url = push.signed_url("https://oapi.dingtalk.com/robot/send?access_token=t", secret=secret,
                          timestamp_ms=stamp)  # fmt: skip
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query == {"access_token": "t", "timestamp": str(stamp), "sign": expected}
    assert push.signed_url("https://x/send?a=1", secret=None) == "https://x/send?a=1"


def test_network_errors_retry_with_backoff_then_fail() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    sleeps = Sleeps()
    result = push.send(
        "wecom", MESSAGE, url=f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key=secretkey",
        store="1000101", settings=FAST, sleep=sleeps,
    )  # fmt: skip
    assert result.status == "failed" and result.attempts == 4
    assert sleeps == [1.0, 2.0, 4.0]
    assert "network error" in result.detail and "secretkey" not in result.describe()


def test_http_5xx_is_retried(bots) -> None:
    bots.wecom_keys.add("k1")
    bots.fail_http.add("k1")
    sleeps = Sleeps()
    result = push.send(
        "wecom", MESSAGE, url=bots.wecom_url("k1"), store="s", settings=FAST, sleep=sleeps
    )
    assert (result.status, result.attempts, sleeps) == ("sent", 2, [1.0])


def test_push_settings_from_the_environment() -> None:
    settings = push.push_settings(
        {"AFTERSALES_PUSH_THROTTLE_SECONDS": "0.5", "AFTERSALES_PUSH_RETRIES": "1"}
    )
    assert (settings.throttle_seconds, settings.retries, settings.timeout) == (0.5, 1, 10.0)
    with pytest.raises(UsageError, match="AFTERSALES_PUSH_RETRIES"):
        push.push_settings({"AFTERSALES_PUSH_RETRIES": "many"})


# --- the recipients file --------------------------------------------------------------------------


RECIPIENTS = """
report_base_url = "http://files.example/${SITE}/reports"
[stores."1000101"]
name = "示例旗舰店"
files = ["示例旗舰店_*.xlsx"]
to = ["manager@example.com"]
wecom = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=${WECOM_KEY_1000101}"
dingtalk = "https://oapi.dingtalk.com/robot/send?access_token=${DINGTALK_TOKEN}"
dingtalk_secret = "${DINGTALK_SECRET}"
[stores."1000102"]
wecom = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=fixed"
[estate]
dingtalk = "https://oapi.dingtalk.com/robot/send?access_token=${DINGTALK_TOKEN}"
"""
ENV = {
    "SITE": "intra",
    "WECOM_KEY_1000101": "wk1",
    "DINGTALK_TOKEN": "dt",
    "DINGTALK_SECRET": "SECx",
}


def test_recipients_take_channels_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "stores.toml"
    path.write_text(RECIPIENTS, encoding="utf-8")
    parsed = deliver.read_recipients(path, env=ENV, require_to=False)
    first, second = parsed.stores
    assert first.wecom == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=wk1"
    assert first.dingtalk == "https://oapi.dingtalk.com/robot/send?access_token=dt"
    assert (first.dingtalk_secret, first.to, first.name) == (
        "SECx",
        ("manager@example.com",),
        "示例旗舰店",
    )
    assert (second.to, second.dingtalk) == ((), None)
    assert parsed.estate is not None and parsed.estate.dingtalk == first.dingtalk
    assert parsed.report_base_url == "http://files.example/intra/reports"
    assert "wk1" not in repr(parsed) and "SECx" not in repr(parsed)  # keys stay out of logs
    # email --all still needs an address for every store
    with pytest.raises(UsageError, match=r'stores\."1000102"\.to'):
        deliver.load_recipients(path, env=ENV)


def test_a_missing_variable_is_named(tmp_path: Path) -> None:
    path = tmp_path / "stores.toml"
    path.write_text(RECIPIENTS, encoding="utf-8")
    env = {k: v for k, v in ENV.items() if k != "DINGTALK_SECRET"}
    with pytest.raises(UsageError, match="DINGTALK_SECRET") as err:
        deliver.read_recipients(path, env=env, require_to=False)
    assert "DINGTALK_SECRET" in str(err.value) and "dingtalk_secret" in str(err.value)
    assert "环境变量未设置" in str(err.value)


def test_bad_channel_values_are_usage_errors(tmp_path: Path) -> None:
    path = tmp_path / "stores.toml"
    path.write_text('[stores."1"]\nwecom = "qyapi.weixin.qq.com/?key=abc123"\n', encoding="utf-8")
    with pytest.raises(UsageError, match="http") as err:
        deliver.read_recipients(path, require_to=False)
    assert "abc123" not in str(err.value)
    path.write_text('[stores."1"]\nto = ["a@b.com"]\n[estate]\nsms = "x"\n', encoding="utf-8")
    with pytest.raises(UsageError, match="sms"):
        deliver.read_recipients(path)
    path.write_text('[stores."1"]\nto = ["a@b.com"]\ndingtalk_secret = "S"\n', encoding="utf-8")
    with pytest.raises(UsageError, match="dingtalk_secret without dingtalk"):
        deliver.read_recipients(path)


def test_english_counts_agree_with_their_number() -> None:
    # Issue 13: the push strings are text.py's push.* keys, English plurals by count.
    assert push.s("team", "en", team="Warehouse", over=1, soon=2) == (
        "- Warehouse: 1 order over, 2 due"
    )
    assert push.s("team", "en", team="Warehouse", over=3, soon=0).startswith(
        "- Warehouse: 3 orders"
    )
    assert push.s("estate.more", "en", n=1) == "- … 1 more store"
    assert push.s("estate.more", "en", n=4) == "- … 4 more stores"
    zh = push.s("team", "zh", team="仓库", over=1, soon=2)
    assert zh == "- 仓库：超预警线 1 单，即将到期 2 单"
