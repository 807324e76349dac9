"""SMTP transport: settings from the environment or ``[smtp]``, retries, per-recipient results.

The password is only ever read from ``AFTERSALES_SMTP_PASSWORD``; it is kept out of ``repr``, log
lines and error messages (errors name the host and the server's reply, never credentials).
"""

from __future__ import annotations

import os
import smtplib
import ssl
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from typing import TYPE_CHECKING, TypeVar

from aftersales_kit.errors import DeliveryError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

SECURITY_MODES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
ENV_PREFIX = "AFTERSALES_SMTP_"
_Num = TypeVar("_Num", int, float)


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send. ``password`` never appears in ``repr`` or messages."""

    host: str
    port: int
    sender: str
    security: str = "starttls"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    #: extra CA bundle to trust (a company CA, or a test server's self-signed certificate);
    #: certificate verification itself is never switched off.
    cafile: str | None = None
    #: every wait on the server, the reply to the end of DATA included (unless ``data_timeout``)
    timeout: float = 30.0
    #: wait for the reply to the end of DATA; None: ``timeout``. A hung relay must not hold a
    #: daily run for RFC 5321's 10 minutes per store; a mail not confirmed in time is "unknown"
    #: (never resent automatically), so a longer wait is only needed for a slow scanning relay.
    data_timeout: float | None = None
    retries: int = 3
    backoff_seconds: float = 2.0


@dataclass(frozen=True)
class RecipientResult:
    """Outcome for one envelope recipient: ``status`` is sent, failed, skipped or unknown.

    ``unknown``: the whole message was transmitted but the server's reply to the end of DATA never
    came (timeout, dropped connection). The mail may well be queued, so it is not resent
    automatically; the sent-log records it and a rerun needs ``--resend``.
    """

    recipient: str
    status: str
    code: int | None = None
    detail: str = ""
    attempts: int = 0


def smtp_settings(
    smtp: Mapping[str, object] | None = None, *, env: Mapping[str, str] | None = None
) -> SmtpSettings:
    """Merge the config ``[smtp]`` table with ``AFTERSALES_SMTP_*`` variables (the env wins).

    Parameters
    ----------
    smtp
        The ``[smtp]`` table of :func:`aftersales_kit.config.load_config` (keys host, port,
        security, user, from, cafile, timeout, retries, backoff_seconds). A ``password`` key is
        refused: secrets belong in the environment.
    env
        The environment (default ``os.environ``).
    """
    env = os.environ if env is None else env
    table = dict(smtp or {})
    if "password" in table:
        msg = (
            "配置文件的 [smtp] 不能包含 password (the [smtp] table must not hold the password); "
            f"请改用环境变量 {ENV_PREFIX}PASSWORD"
        )
        raise DeliveryError(msg)

    def pick(key: str, env_key: str | None = None) -> str | None:
        value = env.get(ENV_PREFIX + (env_key or key).upper())
        if value not in (None, ""):
            return value
        raw = table.get(key)
        return None if raw in (None, "") else str(raw)

    host = pick("host")
    sender = configured_sender(table, env=env)
    if not host or not sender:
        missing = ", ".join(ENV_PREFIX + n for n, v in (("HOST", host), ("FROM", sender)) if not v)
        msg = (
            f"缺少 SMTP 设置 (missing SMTP settings): {missing}; "
            "请设置环境变量或配置文件 [smtp] 表 (set the variables or the [smtp] table), "
            "或使用 --dry-run 只写 .eml 文件"
        )
        raise DeliveryError(msg)
    security = (pick("security") or "starttls").lower()
    if security not in SECURITY_MODES:
        msg = (
            f"SMTP security 取值无效 (invalid security): {security!r}; "
            f"可选 (allowed): {', '.join(SECURITY_MODES)}"
        )
        raise DeliveryError(msg)
    return SmtpSettings(
        host=host,
        port=_number(pick("port"), "port", int, DEFAULT_PORTS[security]),
        sender=sender,
        security=security,
        user=pick("user"),
        password=env.get(ENV_PREFIX + "PASSWORD") or None,
        cafile=pick("cafile"),
        timeout=_number(pick("timeout"), "timeout", float, 30.0),
        data_timeout=_optional(pick("data_timeout"), "data_timeout"),
        retries=_number(pick("retries"), "retries", int, 3),
        backoff_seconds=_number(pick("backoff_seconds"), "backoff_seconds", float, 2.0),
    )


def configured_sender(
    smtp: Mapping[str, object] | None = None, *, env: Mapping[str, str] | None = None
) -> str | None:
    """``AFTERSALES_SMTP_FROM``, else the ``[smtp]`` ``from``: the sender a dry run's ``.eml``
    shows, so the preview is the mail that will be sent."""
    env = os.environ if env is None else env
    value = env.get(ENV_PREFIX + "FROM")
    if value not in (None, ""):
        return value
    raw = (smtp or {}).get("from")
    return None if raw in (None, "") else str(raw)


def _optional(raw: str | None, name: str) -> float | None:
    return None if raw is None else _number(raw, name, float, 0.0)


def _number(raw: str | None, name: str, kind: type[_Num], default: _Num) -> _Num:
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        msg = f"SMTP {name} 必须是数字 (must be a number): {raw!r}"
        raise DeliveryError(msg) from None
    if value < 0 or value != value or value == float("inf"):
        msg = f"SMTP {name} 不能为负或无穷 (must be a finite, non-negative number): {raw!r}"
        raise DeliveryError(msg)
    if name == "port" and not 0 < value < 65536:
        msg = f"SMTP port 必须在 1–65535 之间 (must be 1–65535): {raw!r}"
        raise DeliveryError(msg)
    return value


def _is_transient(code: int | None) -> bool:
    # No code means the connection broke or timed out: worth another try.
    return code is None or 400 <= code < 500


def _reply(detail: bytes | str) -> str:
    text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    return " ".join(text.split())[:200]


class _Client(smtplib.SMTP):
    """smtplib client that remembers accepted recipients and whether the message end was sent.

    smtplib's ``sendmail`` reports neither when DATA fails, and those two facts decide between
    "failed, retry" and "unknown, do not resend".
    """

    data_timeout: float = 30.0
    accepted: list[str]
    body_sent: bool = False
    _in_data: bool = False

    def track_reset(self) -> None:
        """Start tracking (before the first command)."""
        self.accepted = []
        self.body_sent = False
        self._in_data = False

    def rcpt(self, recip: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        reply = super().rcpt(recip, options)
        if reply[0] in (250, 251):
            self.accepted.append(recip)
        return reply

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        self._in_data = True
        try:
            return super().data(msg)
        finally:
            self._in_data = False

    def send(self, s: ReadableBuffer | str) -> None:
        super().send(s)
        if self._in_data and not self.body_sent:
            data = s.encode("ascii") if isinstance(s, str) else bytes(s)
            if data.endswith(b"\r\n.\r\n"):
                # From here on the server may have queued the mail whatever happens next.
                self.body_sent = True
                sock = getattr(self, "sock", None)
                if sock is not None:
                    sock.settimeout(self.data_timeout)


class _ClientSSL(_Client, smtplib.SMTP_SSL):
    pass


def _connect(settings: SmtpSettings) -> _Client:
    context = ssl.create_default_context(cafile=settings.cafile)
    if settings.security == "ssl":
        client: _Client = _ClientSSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        client = _Client(settings.host, settings.port, timeout=settings.timeout)
    client.data_timeout = (
        settings.timeout if settings.data_timeout is None else settings.data_timeout
    )
    client.track_reset()
    try:
        client.ehlo()
        if settings.security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if settings.user:
            if settings.security == "none":
                _warn_plain_auth(settings)
            client.login(settings.user, settings.password or "")
    except BaseException:
        client.close()
        raise
    return client


_warned: set[tuple[str, int]] = set()


def _warn_plain_auth(settings: SmtpSettings) -> None:
    """Once per server: the login goes over an unencrypted connection (AUTH PLAIN/LOGIN carry
    the password in base64, readable by anyone on the path)."""
    where = (settings.host, settings.port)
    if where in _warned:
        return
    _warned.add(where)
    print(
        f"警告 (warning): SMTP 登录未加密 (login over an unencrypted connection) "
        f"{settings.host}:{settings.port}: 密码以明文传输 (the password crosses the network in "
        f"clear); 请设置 {ENV_PREFIX}SECURITY=starttls 或 ssl",
        file=sys.stderr,
    )


#: Without a SIZE the server announces, refuse mails over 20 MB (most providers' limit).
MAX_MESSAGE_BYTES = 20 * 1024 * 1024


def _check_size(size: int, *, limit: int, settings: SmtpSettings) -> None:
    if size > limit:
        msg = (
            f"邮件过大 (message too large): {size / 1e6:.1f} MB，服务器上限 (server limit) "
            f"{limit / 1e6:.1f} MB ({settings.host}); 请用 --zip-report 压缩报告，或缩短考核周期 "
            "(use --zip-report or a shorter period)"
        )
        raise DeliveryError(msg)


@dataclass
class _Progress:
    """What the attempts so far found: final results, the last reply per recipient, and who is
    retried in the next round."""

    results: dict[str, RecipientResult] = field(default_factory=dict)
    last: dict[str, tuple[int | None, str]] = field(default_factory=dict)
    retry: list[str] = field(default_factory=list)

    def fail(self, rcpt: str, code: int | None, detail: str, attempt: int) -> None:
        self.results[rcpt] = RecipientResult(rcpt, "failed", code, detail, attempt)

    def again(self, rcpt: str, code: int | None, detail: str) -> None:
        self.last[rcpt] = (code, detail)
        self.retry.append(rcpt)


def send_message(
    message: EmailMessage,
    *,
    recipients: Sequence[str],
    settings: SmtpSettings,
    sleep: Callable[[float], None] = time.sleep,
) -> list[RecipientResult]:
    """Send ``message`` to every envelope recipient; never raises for one refused recipient.

    Transient failures (connection errors, timeouts, 4xx replies) are retried up to
    ``settings.retries`` times with exponential backoff (``backoff_seconds * 2**attempt``), only for
    the recipients still pending. A 5xx refusal of a recipient fails that recipient alone. A
    rejected login raises :class:`DeliveryError` since no recipient could succeed.

    Returns
    -------
    list[RecipientResult]
        One result per recipient, in the given order.
    """
    size = len(message.as_bytes())
    _check_size(size, limit=MAX_MESSAGE_BYTES, settings=settings)
    order = list(dict.fromkeys(recipients))
    progress = _Progress()
    pending = list(order)
    attempt = 0
    while pending:
        attempt += 1
        progress.retry = []
        _attempt(
            message,
            pending=pending,
            size=size,
            settings=settings,
            progress=progress,
            attempt=attempt,
        )
        retry = set(progress.retry)
        pending = [r for r in order if r in retry and r not in progress.results]
        if pending and attempt > settings.retries:
            for rcpt in pending:
                last_code, last_detail = progress.last.get(rcpt, (None, ""))
                progress.fail(rcpt, last_code, last_detail, attempt)
            pending = []
        if pending:
            sleep(settings.backoff_seconds * 2 ** (attempt - 1))
    return [progress.results[r] for r in order]


def _attempt(
    message: EmailMessage,
    *,
    pending: Sequence[str],
    size: int,
    settings: SmtpSettings,
    progress: _Progress,
    attempt: int,
) -> None:
    """One connection: send to ``pending`` and record, per recipient, sent / failed / unknown or
    retry. Raises :class:`DeliveryError` for what no retry can fix (login, TLS, size)."""
    sender = parseaddr(settings.sender)[1] or settings.sender
    client: _Client | None = None
    refused: Mapping[str, tuple[int, bytes | str]] = {}
    try:
        client = _connect(settings)
        _check_advertised_size(client, size=size, settings=settings)
        try:
            # send_message writes CRLF line ends; sendmail(bytes) would pass bare LFs through.
            refused = client.send_message(message, from_addr=sender, to_addrs=list(pending))
        finally:
            if client.body_sent:
                client.close()  # no QUIT after an unanswered DATA: it would wait again
            else:
                _quit(client)
    except smtplib.SMTPRecipientsRefused as exc:
        refused = exc.recipients
        # A 421 mid-envelope makes smtplib give up on the rest: they are pending, not refused.
        for rcpt in pending:
            if rcpt not in refused:
                progress.again(rcpt, None, "连接中断 (connection closed)")
    except (OSError, smtplib.SMTPException) as exc:
        fatal = _fatal(exc, settings=settings)
        if fatal is not None:
            raise fatal from None
        _record_failure(exc, client=client, pending=pending, progress=progress, attempt=attempt)
        return
    else:
        for rcpt in pending:
            if rcpt not in refused:
                progress.results[rcpt] = RecipientResult(rcpt, "sent", 250, "", attempt)
    for rcpt, (refused_code, reply) in refused.items():
        reason = _reply(reply)
        if _is_transient(refused_code):
            progress.again(rcpt, refused_code, reason)
        else:
            progress.last[rcpt] = (refused_code, reason)
            progress.fail(rcpt, refused_code, reason, attempt)


def _check_advertised_size(client: _Client, *, size: int, settings: SmtpSettings) -> None:
    """The server's SIZE limit, when it announces one (RFC 1870), before any DATA is sent."""
    advertised = client.esmtp_features.get("size", "").strip()
    if advertised.isdigit() and int(advertised) > 0:
        try:
            _check_size(size, limit=int(advertised), settings=settings)
        except DeliveryError:
            _quit(client)
            raise


def _fatal(exc: BaseException, *, settings: SmtpSettings) -> DeliveryError | None:
    """The error for failures no retry can fix (login, missing feature, certificate), else None."""
    where = f"{settings.host}:{settings.port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        msg = (
            f"SMTP 登录被拒绝 (login refused) {where} "
            f"用户 (user) {settings.user}: {exc.smtp_code} {_reply(exc.smtp_error)}; "
            f"请检查 {ENV_PREFIX}USER / {ENV_PREFIX}PASSWORD"
        )
        return DeliveryError(msg)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        msg = (
            f"SMTP 服务器不支持所需功能 (server lacks a required feature) "
            f"{where}: {exc}; 请检查 {ENV_PREFIX}SECURITY"
        )
        return DeliveryError(msg)
    # ssl.SSLCertVerificationError is an OSError too, but retrying cannot fix it.
    if isinstance(exc, ssl.SSLCertVerificationError):
        msg = (
            f"SMTP 证书验证失败 (certificate verification failed) "
            f"{where}: {exc.verify_message}; 可用 {ENV_PREFIX}CAFILE 指定信任的证书"
        )
        return DeliveryError(msg)
    return None


def _record_failure(
    exc: BaseException,
    *,
    client: _Client | None,
    pending: Sequence[str],
    progress: _Progress,
    attempt: int,
) -> None:
    """A reply code fails or retries every pending recipient; a lost connection retries them,
    except those the server had accepted when the message body was already sent: "unknown"."""
    if isinstance(exc, smtplib.SMTPResponseException):
        code, detail = exc.smtp_code, _reply(exc.smtp_error)
        for rcpt in pending:
            if _is_transient(code):
                progress.again(rcpt, code, detail)
            else:
                progress.last[rcpt] = (code, detail)
                progress.fail(rcpt, code, detail, attempt)
        return
    detail = f"{type(exc).__name__}: {_reply(str(exc))}"
    if client is not None and client.body_sent:
        accepted = set(client.accepted)
        note = (
            "服务器未确认，可能已送达，不会自动重发 (no reply after the message was sent: "
            f"it may be delivered; not resent, use --resend): {detail}"
        )
        for rcpt in pending:
            if rcpt in accepted:
                progress.results[rcpt] = RecipientResult(rcpt, "unknown", None, note, attempt)
    for rcpt in pending:
        if rcpt not in progress.results:
            progress.again(rcpt, None, detail)


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()
