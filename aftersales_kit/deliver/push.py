"""Push the daily figures to 企业微信 group bots and 钉钉 robots (``aftersales daily``).

Both take a JSON ``POST`` to a webhook URL and answer ``{"errcode": 0, "errmsg": "ok"}``:

* 企业微信: ``{"msgtype": "markdown", "markdown": {"content": …}}``; the content may hold at most
  4096 bytes of UTF-8; 20 messages a minute per bot, beyond that errcode 45009.
* 钉钉: ``{"msgtype": "markdown", "markdown": {"title": …, "text": …}}``; with a signing secret
  the URL gets ``timestamp`` (ms) and ``sign`` = base64(HMAC-SHA256(secret,
  ``"{timestamp}\\n{secret}"``)); 20 a minute too, beyond that errcode 130101.

The message is a phone-screen summary of a :class:`~aftersales_kit.diagnose.Diagnosis`: no
customer data, only the store, its figures, counts and service-order ids. Messages are kept within
4096 bytes for both (the 钉钉 limit is larger, a phone screen is not): whole lines are dropped
first, and a last resort cut never splits a character.

Its strings are the ``push.*`` keys of text.py's catalog; labels shared with the report (teams,
"已超时…") are the report's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypedDict

from aftersales_kit import format as fmt
from aftersales_kit import text
from aftersales_kit.errors import UsageError
from aftersales_kit.model import OPEN_HORIZON_HOURS, Diagnosis

CHANNELS = ("wecom", "dingtalk")
#: 企业微信's markdown limit (bytes of UTF-8); applied to 钉钉 too.
MAX_BYTES = 4096
#: errcodes that mean "too many messages this minute": wait and send again.
THROTTLE_CODES: dict[str, frozenset[int]] = {
    "wecom": frozenset({45009}),
    "dingtalk": frozenset({130101}),
}
ENV_PREFIX = "AFTERSALES_PUSH_"
#: Urgent service orders listed per store.
URGENT = 3
#: Stores listed in the estate summary (worst first); the rest are counted.
ESTATE_ROWS = 10
#: A store name from data or a file is clipped to this many characters in the message.
NAME_CHARS = 40
ELLIPSIS = "…"


def s(key: str, lang: str = "zh", **values: object) -> str:
    """The push string ``key`` (``push.<key>`` in text.py) in ``lang`` with its values."""
    return text.t(f"push.{key}", lang, **values)


# --- the message ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One push message: ``title`` (钉钉's notification line) and the markdown body."""

    title: str
    markdown: str


def fit_bytes(body: str, *, limit: int = MAX_BYTES) -> str:
    """``body`` within ``limit`` bytes of UTF-8: whole lines from the end first, then a cut at a
    character boundary; a shortened body ends with ``…``."""
    if len(body.encode("utf-8")) <= limit:
        return body
    room = limit - len(ELLIPSIS.encode("utf-8"))
    lines = body.split("\n")
    while len(lines) > 1 and len("\n".join(lines).encode("utf-8")) > room:
        lines.pop()
    kept = "\n".join(lines)
    # One overlong line: cut its bytes, then drop a partial trailing character.
    cut = kept.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return cut.rstrip() + ELLIPSIS


def compose(
    lines: Sequence[str], *, optional: Sequence[int] = (), tail: str = "", limit: int = MAX_BYTES
) -> str:
    """Join ``lines`` (and ``tail``, e.g. the report link, always kept) within ``limit`` bytes.

    Lines whose indexes are in ``optional`` are dropped, the last one first, before anything else
    is shortened.
    """
    keep = [True] * len(lines)
    drop = sorted(optional, reverse=True)

    def joined() -> str:
        kept = [line for line, k in zip(lines, keep, strict=True) if k]
        return "\n".join([*kept, tail] if tail else kept)

    while len(joined().encode("utf-8")) > limit and drop:
        keep[drop.pop(0)] = False
    if len(joined().encode("utf-8")) <= limit:
        return joined()
    body = "\n".join(line for line, k in zip(lines, keep, strict=True) if k)
    if not tail:
        return fit_bytes(body, limit=limit)
    return fit_bytes(body, limit=limit - len(tail.encode("utf-8")) - 1) + "\n" + tail


_MARKUP = re.compile(r"[\x00-\x1f\x7f<>\[\]()`*_#|\\]+")


def clean_name(name: object) -> str:
    """A store name or service id for a markdown line: no line breaks or markup (a name
    ``[x](http://…)`` must not become a link), no mention (``@all`` becomes ``＠all``), no bidi
    override (it would reverse the figures after it), at most :data:`NAME_CHARS` characters."""
    cleaned = fmt.visible(_MARKUP.sub(" ", str(name or ""))).replace("@", "＠").strip()
    cleaned = re.sub(r"\s+", " ", cleaned)
    return cleaned if len(cleaned) <= NAME_CHARS else cleaned[: NAME_CHARS - 1] + ELLIPSIS


def _signed_hours(value: float | None, *, lang: str) -> str:
    if value is None:
        return "—"
    if abs(value) < 0.05:
        return "±0"
    return ("+" if value > 0 else "−") + fmt.hours(abs(value), lang=lang)


def _horizon(lang: str, hours: float) -> str:
    return fmt.hours_label(hours, lang=lang)


def team_counts(
    diagnosis: Diagnosis, *, horizon_hours: float = OPEN_HORIZON_HOURS
) -> dict[str, tuple[int, int]]:
    """team → (past a warning line, due within the horizon) from ``team_actions``: orders that
    can still count (the lists also keep the others, marked 不计入考核)."""
    import polars as pl

    out: dict[str, tuple[int, int]] = {}
    for team, frame in diagnosis.team_actions.items():
        counts = frame.filter(pl.col("will_count"))
        over = int(counts["breached"].fill_null(False).sum())
        due = counts.filter(~pl.col("breached") & (pl.col("hours_to_breach") <= horizon_hours))
        out[team] = (over, due.height)
    return out


def urgent_orders(diagnosis: Diagnosis, *, n: int = URGENT) -> list[tuple[str, str, float | None]]:
    """The ``n`` most urgent open service orders as (service id, team, hours left; negative =
    already over), most overdue first, as the team lists order them; one row per service id."""
    import polars as pl

    frames = [
        f.filter(pl.col("will_count") & pl.col("hours_to_breach").is_not_null())
        .select("service_id", "hours_to_breach")
        .with_columns(pl.lit(team).alias("team"))
        for team, f in diagnosis.team_actions.items()
        if f.height
    ]
    if not frames:
        return []
    rows = (
        pl.concat(frames)
        .sort("hours_to_breach", "service_id", nulls_last=True)
        .unique(subset="service_id", keep="first", maintain_order=True)
        .head(n)
    )
    return [(str(sid), team, left) for sid, left, team in rows.iter_rows()]


def store_message(
    diagnosis: Diagnosis,
    *,
    lang: str = "zh",
    store_name: str | None = None,
    report_url: str | None = None,
    horizon_hours: float = OPEN_HORIZON_HOURS,
    limit: int = MAX_BYTES,
) -> Message:
    """The per-store push: the mean against the warning line with its change, tomorrow's
    projection, the consumer-warning state, over / due counts per team, the most urgent service
    ids with hours left and the report link (when ``report_url``). No customer data."""
    d = diagnosis
    name = clean_name(store_name or d.store_name or d.store_id)
    lines = [
        s("heading", lang, store=name),
        s(
            "period",
            lang,
            start=fmt.day(d.window.start, short=True),
            end=fmt.day(d.window.end, short=True),
            store_id=clean_name(d.store_id),
        ),
        *_data_lines(d, lang=lang),
        *_figure_lines(d, lang=lang),
        s("teams", lang, horizon=_horizon(lang, horizon_hours)),
    ]
    for team, (over, soon) in team_counts(d, horizon_hours=horizon_hours).items():
        lines.append(s("team", lang, team=text.label("team", team, lang), over=over, soon=soon))
    optional = _urgent_lines(d, lines, lang=lang)
    tail = s("link", lang, url=report_url) if report_url else ""
    body = compose(lines, optional=optional, tail=tail, limit=limit)
    return Message(title=s("title", lang, store=name), markdown=body)


def _data_lines(d: Diagnosis, *, lang: str) -> list[str]:
    """The one line saying the store's data is old (DOMAIN §2 "Data as of"), if it is."""
    notice = text.data_notice(d, lang)
    return [] if notice is None else [notice]


def _figure_lines(d: Diagnosis, *, lang: str) -> list[str]:
    """The mean against the warning line, tomorrow's projection, the consumer-warning state."""
    k, prev = d.kpis, d.prev_kpis
    line = float(d.warning.line_hours)
    lines = []
    if k.mean_hours is None:
        lines.append(s("no_mean", lang))
    else:
        gap = float(k.mean_hours) - line
        side = s("above" if gap > 0 else "below", lang, hours=fmt.hours(abs(gap), lang=lang))
        lines.append(
            s(
                "mean",
                lang,
                mean=fmt.hours(k.mean_hours, lang=lang),
                line=fmt.hours_label(line, lang=lang),
                side=side,
                delta=fmt.delta_pct(k.mean_hours, previous=prev.mean_hours),
            )
        )
    tomorrow = d.tomorrow
    if tomorrow is not None and tomorrow.mean_hours is not None:
        lines.append(
            s(
                "tomorrow",
                lang,
                mean=fmt.hours(tomorrow.mean_hours, lang=lang),
                delta=_signed_hours(tomorrow.delta_hours, lang=lang),
            )
        )
    # From our own hours a triggered state is only an estimate: check it on 风向标.
    ours = d.warning.state == "triggered" and d.warning.basis == "ours"
    lines.append(s(f"warning.{'triggered_ours' if ours else d.warning.state}", lang))
    return lines


def _urgent_lines(d: Diagnosis, lines: list[str], *, lang: str) -> list[int]:
    """Append the most urgent service orders to ``lines``; their indexes (dropped first when
    the message is too long)."""
    urgent = urgent_orders(d)
    if not urgent:
        lines.append(s("nothing_due", lang))
        return []
    lines.append(s("urgent", lang))
    optional = []
    disputed = _disputed(d)
    for sid, team, left in urgent:
        optional.append(len(lines))
        row = s(
            "urgent_row",
            lang,
            service_id=clean_name(sid),
            team=text.label("team", team, lang),
            left=text.hours_left(left, lang=lang),
        )
        # 交易纠纷 is half of the consumer-warning condition: a threatened dispute is marked.
        lines.append(row + s("dispute_mark", lang) if sid in disputed else row)
    return optional


def _disputed(d: Diagnosis) -> set[str]:
    """Service ids of the open orders flagged ``dispute_risk`` (DOMAIN §6)."""
    risk = d.open_at_risk
    if "dispute_risk" not in risk.columns or not risk.height:
        return set()
    import polars as pl

    return set(risk.filter(pl.col("dispute_risk").fill_null(False))["service_id"].to_list())


def estate_message(
    diagnoses: Sequence[Diagnosis],
    *,
    lang: str = "zh",
    names: Mapping[str, str] | None = None,
    index_url: str | None = None,
    horizon_hours: float = OPEN_HORIZON_HOURS,
    limit: int = MAX_BYTES,
) -> Message:
    """The estate summary: how many stores are over the line or have the warning, open orders
    over and due, and the stores with the highest mean (at most :data:`ESTATE_ROWS`)."""
    names = names or {}
    rows = list(diagnoses)
    lines = _estate_counts(rows, lang=lang, horizon_hours=horizon_hours)
    # 数据过期 stores (data > 48 h behind the newest store's) are not ranked.
    ranked = sorted(
        (d for d in rows if d.kpis.mean_hours is not None and not d.data_stale),
        key=lambda d: (-(d.kpis.mean_hours or 0.0), str(d.store_id)),  # None filtered out
    )
    optional: list[int] = []
    if ranked:
        lines.append(s("estate.worst", lang))
        for d in ranked[:ESTATE_ROWS]:
            optional.append(len(lines))
            name = names.get(d.store_id) or d.store_name or d.store_id
            lines.append(_estate_row(d, name=name, lang=lang, horizon_hours=horizon_hours))
        if len(ranked) > ESTATE_ROWS:
            lines.append(s("estate.more", lang, n=len(ranked) - ESTATE_ROWS))
    tail = s("estate.link", lang, url=index_url) if index_url else ""
    body = compose(lines, optional=optional, tail=tail, limit=limit)
    return Message(title=s("estate.title", lang), markdown=body)


def _estate_counts(rows: Sequence[Diagnosis], *, lang: str, horizon_hours: float) -> list[str]:
    """The heading, the stores over the line or with the warning, the open orders over / due."""
    states = [d.warning.state for d in rows]
    over_line = sum(
        1
        for d in rows
        if d.kpis.mean_hours is not None and d.kpis.mean_hours > d.warning.line_hours
    )
    over = soon = 0
    for d in rows:
        split = d.open_split(horizon_hours=horizon_hours)
        over += split["over"]
        soon += split["soon"]
    return [
        s("estate.heading", lang, n=len(rows)),
        s(
            "estate.counts",
            lang,
            over_line=over_line,
            triggered=states.count("triggered"),
            cannot_judge=states.count("cannot_judge"),
        ),
        s("estate.open", lang, over=over, soon=soon, horizon=_horizon(lang, horizon_hours)),
    ]


def _estate_row(d: Diagnosis, *, name: str, lang: str, horizon_hours: float) -> str:
    """One store of the estate's worst list: mean, change, tomorrow, orders over."""
    tomorrow = d.tomorrow
    return s(
        "estate.row",
        lang,
        store=clean_name(name),
        mean=fmt.hours(d.kpis.mean_hours, lang=lang),
        delta=fmt.delta_pct(d.kpis.mean_hours, previous=d.prev_kpis.mean_hours),
        tomorrow=fmt.hours(None if tomorrow is None else tomorrow.mean_hours, lang=lang),
        over=d.open_split(horizon_hours=horizon_hours)["over"],
    )


def report_url(base: str | None, relative: str) -> str | None:
    """``base`` joined with a report's path relative to ``reports/`` (percent-encoded)."""
    if not base:
        return None
    return base.rstrip("/") + "/" + urllib.parse.quote(relative.lstrip("/"))


# --- the payloads ---------------------------------------------------------------------------------


def payload(channel: str, message: Message) -> dict[str, object]:
    """The JSON body ``channel`` expects for a markdown message."""
    if channel == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": message.markdown}}
    if channel == "dingtalk":
        return {
            "msgtype": "markdown",
            # 钉钉's markdown joins lines separated by a single newline; 企业微信's does not.
            "markdown": {"title": message.title, "text": message.markdown.replace("\n", "\n\n")},
        }
    msg = f"未知的推送渠道 (unknown channel): {channel!r}; 可用 (allowed): {', '.join(CHANNELS)}"
    raise UsageError(msg)


def dingtalk_sign(secret: str, *, timestamp_ms: int) -> str:
    """钉钉's ``sign``: base64(HMAC-SHA256(secret, "{timestamp}\\n{secret}")), not URL-encoded."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_url(url: str, *, secret: str | None, timestamp_ms: int | None = None) -> str:
    """``url`` with ``timestamp`` and ``sign`` added when there is a secret (钉钉 加签)."""
    if not secret:
        return url
    stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    query = urllib.parse.urlencode(
        {"timestamp": stamp, "sign": dingtalk_sign(secret, timestamp_ms=stamp)}
    )
    return f"{url}{'&' if '?' in url else '?'}{query}"


# --- sending --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushSettings:
    """Timeouts and retries; ``AFTERSALES_PUSH_*`` variables override the defaults."""

    timeout: float = 10.0
    retries: int = 3  # network errors and HTTP 5xx: tries after the first
    backoff_seconds: float = 2.0  # doubled after each network retry
    throttle_seconds: float = 60.0  # a bot allows 20 messages a minute: wait for the next minute
    throttle_retries: int = 3


def push_settings(env: Mapping[str, str] | None = None) -> PushSettings:
    """:class:`PushSettings` from ``AFTERSALES_PUSH_TIMEOUT``, ``_RETRIES``, ``_BACKOFF_SECONDS``,
    ``_THROTTLE_SECONDS`` and ``_THROTTLE_RETRIES``."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    defaults = PushSettings()
    for name, kind in (
        ("timeout", float),
        ("retries", int),
        ("backoff_seconds", float),
        ("throttle_seconds", float),
        ("throttle_retries", int),
    ):
        raw = env.get(ENV_PREFIX + name.upper())
        if raw in (None, ""):
            continue
        try:
            value = kind(raw)
        except ValueError:
            value = -1
        if value < 0:
            msg = (
                f"{ENV_PREFIX}{name.upper()} 必须是非负数 (must be a non-negative number): {raw!r}"
            )
            raise UsageError(msg)
        values[name] = value
    return PushSettings(**{**asdict(defaults), **values})


class PushEntry(TypedDict):
    """A :class:`PushResult` in the daily run record (JSON)."""

    store: str
    channel: str
    status: str
    errcode: int | None
    errmsg: str
    attempts: int
    detail: str
    log_error: str


@dataclass(frozen=True)
class PushResult:
    """What happened to one message on one channel: ``status`` sent, failed, unknown, skipped or
    dry_run. ``unknown``: the POST reached the bot but no usable answer came back (a dropped
    connection, a timeout, a garbled reply), so the message may be in the group: it is not
    posted again without ``--resend``. ``log_error``: the sent-log could not be written."""

    store: str  # store id, or "estate"
    channel: str
    status: str
    errcode: int | None = None
    errmsg: str = ""
    attempts: int = 0
    detail: str = ""
    log_error: str = ""

    @property
    def ok(self) -> bool:
        return self.status not in ("failed", "unknown") and not self.log_error

    def describe(self) -> str:
        """One line in the words of a JD back-office error: which store, which channel, the
        errcode and errmsg."""
        label = {"wecom": "企业微信 (WeCom)", "dingtalk": "钉钉 (DingTalk)"}.get(
            self.channel, self.channel
        )
        if self.log_error:
            return f"店铺 (store) {self.store} {label} {self.status}: {self.log_error}"
        if self.status == "unknown":
            return (
                f"店铺 (store) {self.store} {label} 推送状态未知 (push unconfirmed): {self.detail}"
            )
        if self.status != "failed":
            return f"{self.store} {label}: {self.status}"
        code = "" if self.errcode is None else f" errcode={self.errcode}"
        errmsg = f" errmsg={self.errmsg}" if self.errmsg else ""
        detail = f" — {self.detail}" if self.detail else ""
        return f"店铺 (store) {self.store} {label} 推送失败 (push failed){code}{errmsg}{detail}"

    def as_dict(self) -> PushEntry:
        return PushEntry(
            store=self.store,
            channel=self.channel,
            status=self.status,
            errcode=self.errcode,
            errmsg=self.errmsg,
            attempts=self.attempts,
            detail=self.detail,
            log_error=self.log_error,
        )


@dataclass(frozen=True)
class _Reply:
    """One attempt: the bot's JSON answer, or why there is none and whether to try again;
    ``delivered``: the whole request went out and no usable answer came back, so the bot may
    have posted it (never retried: a second POST could post it twice)."""

    answer: dict[str, Any] | None
    detail: str = ""
    retry: bool = False  # the network or the server was at fault: worth another try
    delivered: bool = False


_UNCONFIRMED = "可能已发出，不会自动重发 (it may be posted; not resent, use --resend)"


_SECRET_QUERY = re.compile(r"(key|access_token|sign|timestamp)=[^&\s]*", re.IGNORECASE)


def redact(text_: str) -> str:
    """Webhook keys, tokens and signatures out of a message (urllib errors may quote the URL)."""
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}=***", text_)


def _post(url: str, body: bytes, *, timeout: float) -> _Reply:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        # 5xx and 429 are the server's or a proxy's trouble; other 4xx will not get better.
        return _Reply(
            None, f"HTTP {exc.code} {exc.reason}", retry=exc.code >= 500 or exc.code == 429
        )
    except urllib.error.URLError as exc:
        # urllib wraps what fails while connecting and sending: the bot never had the request.
        return _Reply(None, redact(f"网络错误 (network error): {exc.reason}"), retry=True)
    except (http.client.HTTPException, OSError) as exc:
        # Raised while waiting for or reading the answer: the request was sent whole.
        detail = f"发出后无应答 (no answer after the request was sent): {type(exc).__name__}"
        reason = str(exc)
        detail += f": {reason}" if reason else ""
        return _Reply(None, redact(f"{detail}; {_UNCONFIRMED}"), delivered=True)
    try:
        answer = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        # A garbled JSON answer came from the bot itself (it may have posted); an HTML page is a
        # proxy's or a login wall's, which never passed the message on.
        looks_json = raw.lstrip()[:1] in (b"{", b"[")
        detail = f"应答不是JSON (reply is not JSON): {raw[:120]!r}"
        if looks_json:
            return _Reply(None, redact(f"{detail}; {_UNCONFIRMED}"), delivered=True)
        return _Reply(None, detail)
    if not isinstance(answer, dict):
        return _Reply(None, f"应答不是JSON对象 (reply is not a JSON object): {answer!r}")
    return _Reply(answer)


def send(
    channel: str,
    message: Message,
    *,
    url: str,
    store: str,
    secret: str | None = None,
    settings: PushSettings | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PushResult:
    """Post ``message`` to one bot; never raises for the bot's or the network's failure.

    errcode 0 is sent; a throttle errcode (45009 / 130101) waits ``throttle_seconds`` and tries
    again (``throttle_retries`` times); network errors before the request is sent and HTTP 5xx
    retry with doubling backoff; a request sent whole without a usable answer (dropped, timed
    out, garbled JSON) is ``unknown`` and never posted again (the bot may have posted it);
    any other errcode is a failure naming the store, channel, errcode and errmsg. A 钉钉 request
    is signed afresh on every attempt (the timestamp must be within an hour of the call).
    """
    settings = settings or push_settings()
    body = json.dumps(payload(channel, message), ensure_ascii=False).encode("utf-8")
    attempts = network_tries = throttles = 0
    while True:
        attempts += 1
        target = signed_url(url, secret=secret) if channel == "dingtalk" else url
        reply = _post(target, body, timeout=settings.timeout)
        answer = reply.answer
        if answer is None and reply.delivered:
            return PushResult(store, channel, "unknown", attempts=attempts, detail=reply.detail)
        if answer is None:
            if reply.retry and network_tries < settings.retries:
                sleep(settings.backoff_seconds * 2**network_tries)
                network_tries += 1
                continue
            return PushResult(store, channel, "failed", attempts=attempts, detail=reply.detail)
        try:
            code = int(answer.get("errcode", -1))
        except (TypeError, ValueError):
            code = -1
        errmsg = str(answer.get("errmsg", ""))[:200]
        if code == 0:
            return PushResult(store, channel, "sent", 0, errmsg, attempts)
        if code in THROTTLE_CODES.get(channel, ()) and throttles < settings.throttle_retries:
            throttles += 1
            sleep(settings.throttle_seconds)
            continue
        return PushResult(store, channel, "failed", code, errmsg, attempts)


def channel_id(channel: str, url: str) -> str:
    """The sent-log's name of a bot: the channel and a short hash of its URL (never the URL,
    which holds the key), so a new bot in the file gets the message and a rerun does not."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:10]
    return f"{channel}:{digest}"
