"""SMTP transport: settings from the environment or ``[smtp]``, retries, per-recipient results.

The password is only ever read from ``AFTERSALES_SMTP_PASSWORD``; it is kept out of ``repr``, log
lines and error messages (errors name the host and the server's reply, never credentials).
"""

from __future__ import annotations

import os
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from typing import TypeVar

from aftersales_kit.errors import DeliveryError

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
    timeout: float = 30.0
    retries: int = 3
    backoff_seconds: float = 2.0


@dataclass(frozen=True)
class RecipientResult:
    """Outcome for one envelope recipient: ``status`` is sent, failed or skipped."""

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
    sender = pick("from")
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
        retries=_number(pick("retries"), "retries", int, 3),
        backoff_seconds=_number(pick("backoff_seconds"), "backoff_seconds", float, 2.0),
    )


def _number(raw: str | None, name: str, kind: type[_Num], default: _Num) -> _Num:
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        msg = f"SMTP {name} 必须是数字 (must be a number): {raw!r}"
        raise DeliveryError(msg) from None
    if value < 0:
        msg = f"SMTP {name} 不能为负 (must not be negative): {raw!r}"
        raise DeliveryError(msg)
    return value


def _is_transient(code: int | None) -> bool:
    # No code means the connection broke or timed out: worth another try.
    return code is None or 400 <= code < 500


def _reply(detail: bytes | str) -> str:
    text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    return " ".join(text.split())[:200]


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    context = ssl.create_default_context(cafile=settings.cafile)
    if settings.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        client.ehlo()
        if settings.security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if settings.user:
            client.login(settings.user, settings.password or "")
    except BaseException:
        client.close()
        raise
    return client


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
    sender = parseaddr(settings.sender)[1] or settings.sender
    order = list(dict.fromkeys(recipients))
    results: dict[str, RecipientResult] = {}
    pending = list(order)
    last: dict[str, tuple[int | None, str]] = {}
    attempt = 0
    while pending:
        attempt += 1
        retry: list[str] = []
        try:
            client = _connect(settings)
            try:
                # send_message writes CRLF line ends; sendmail(bytes) would pass bare LFs through.
                refused = client.send_message(message, from_addr=sender, to_addrs=pending)
            finally:
                _quit(client)
        except smtplib.SMTPAuthenticationError as exc:
            msg = (
                f"SMTP 登录被拒绝 (login refused) {settings.host}:{settings.port} "
                f"用户 (user) {settings.user}: {exc.smtp_code} {_reply(exc.smtp_error)}; "
                f"请检查 {ENV_PREFIX}USER / {ENV_PREFIX}PASSWORD"
            )
            raise DeliveryError(msg) from None
        except smtplib.SMTPNotSupportedError as exc:
            msg = (
                f"SMTP 服务器不支持所需功能 (server lacks a required feature) "
                f"{settings.host}:{settings.port}: {exc}; 请检查 {ENV_PREFIX}SECURITY"
            )
            raise DeliveryError(msg) from None
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients
            # A 421 mid-envelope makes smtplib give up on the rest: they are pending, not refused.
            for rcpt in pending:
                if rcpt not in refused:
                    retry.append(rcpt)
                    last[rcpt] = (None, "连接中断 (connection closed)")
        except smtplib.SMTPResponseException as exc:
            code, detail = exc.smtp_code, _reply(exc.smtp_error)
            refused = {}
            for rcpt in pending:
                last[rcpt] = (code, detail)
                if _is_transient(code):
                    retry.append(rcpt)
                else:
                    results[rcpt] = RecipientResult(rcpt, "failed", code, detail, attempt)
        except (OSError, smtplib.SMTPException) as exc:
            # ssl.SSLCertVerificationError is an OSError too, but retrying cannot fix it.
            if isinstance(exc, ssl.SSLCertVerificationError):
                msg = (
                    f"SMTP 证书验证失败 (certificate verification failed) "
                    f"{settings.host}:{settings.port}: {exc.verify_message}; "
                    f"可用 {ENV_PREFIX}CAFILE 指定信任的证书"
                )
                raise DeliveryError(msg) from None
            refused = {}
            detail = f"{type(exc).__name__}: {_reply(str(exc))}"
            for rcpt in pending:
                last[rcpt] = (None, detail)
                retry.append(rcpt)
        else:
            for rcpt in pending:
                if rcpt not in refused:
                    results[rcpt] = RecipientResult(rcpt, "sent", 250, "", attempt)
        for rcpt, (code, detail) in refused.items():
            reason = _reply(detail)
            last[rcpt] = (code, reason)
            if _is_transient(code):
                retry.append(rcpt)
            else:
                results[rcpt] = RecipientResult(rcpt, "failed", code, reason, attempt)
        pending = [r for r in order if r in set(retry) and r not in results]
        if pending and attempt > settings.retries:
            for rcpt in pending:
                code, detail = last.get(rcpt, (None, ""))
                results[rcpt] = RecipientResult(rcpt, "failed", code, detail, attempt)
            pending = []
        if pending:
            sleep(settings.backoff_seconds * 2 ** (attempt - 1))
    return [results[r] for r in order]


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()
