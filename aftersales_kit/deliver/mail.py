"""Email a store's diagnosis: a lean email-safe summary, PNG charts, the full report and the xlsx.

Message tree (TOOLING §4.2)::

    multipart/mixed
      multipart/alternative
        text/plain                      summary for clients without HTML
        multipart/related
          text/html                     table layout, inline CSS, no script/SVG/data: (< 100 KB)
          image/png …                   charts referenced as cid:
      text/html attachment              the full interactive report
      application/vnd…sheet attachment  action lists (open orders at risk, TOP100, alert details)

The body renders from a ``Diagnosis`` without computing; ``--dry-run`` writes ``.eml`` files to
``reports/outbox/``; a JSON-lines sent-log there keeps a rerun from mailing the same report to the
same person twice (``--resend`` overrides).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from aftersales_kit import format as fmt
from aftersales_kit import text
from aftersales_kit.deliver.smtp import (
    RecipientResult,
    SmtpSettings,
    send_message,
)
from aftersales_kit.deliver.xlsx import action_lists_bytes
from aftersales_kit.errors import DeliveryError, UsageError
from aftersales_kit.files import atomic_write
from aftersales_kit.resources import resource_dir

if TYPE_CHECKING:
    import altair as alt
    import jinja2

    from aftersales_kit.config import StoreEntry
    from aftersales_kit.model import Diagnosis, Finding
    from aftersales_kit.render.report import ReportParams
    from aftersales_kit.window import Window

TEMPLATE_DIR = resource_dir("templates") / "email"  # inside the wheel, or the checkout's
#: Gmail clips bodies above ~102 KB; CID images do not count, markup and inline CSS do.
MAX_BODY_BYTES = 100_000
CJK_FONT = "Noto Sans CJK SC"
FONT_DIRS = ("/usr/share/fonts/opentype/noto", "/usr/share/fonts/truetype/noto")
CHART_WIDTH = 552  # CSS px inside the 600 px body; the PNG is drawn at 2× for sharp screens
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
SENT_LOG = "sent-log.jsonl"


def _s(key: str, lang: str, **values: object) -> str:
    """The email's string ``key`` (``mail.<key>`` in text.py)."""
    return text.t(f"mail.{key}", lang, **values)


def _one_line(text: object) -> str:
    """Untrusted text for a header or file name: no line breaks, no path separators, no bidi
    override or other invisible character (a name must not reverse an attachment's extension)."""
    return fmt.visible(re.sub(r"[\x00-\x1f\x7f/\\]+", " ", str(text or ""))).strip()


# --- findings text --------------------------------------------------------------------------------


def finding_text(finding: Finding, *, lang: str = "zh") -> tuple[str, str]:
    """(title, suggestion) of one ``Finding`` in the report's wording (``text.finding_text``)."""
    rendered = text.finding_text(finding, lang=lang)
    return rendered.title, rendered.advice


# --- charts ---------------------------------------------------------------------------------------


@functools.cache
def _register_fonts() -> None:
    import vl_convert

    for folder in FONT_DIRS:
        if Path(folder).is_dir():
            vl_convert.register_font_directory(folder)


def chart_png(
    chart: alt.TopLevelMixin | Mapping[str, object],
    *,
    title: str | None = None,
    width: int = CHART_WIDTH,
) -> bytes:
    """Render an altair chart (or a Vega-Lite dict) to a 2× PNG with the CJK font, no browser.

    The chart's font is forced to Noto Sans CJK SC: vl-convert draws with the fonts it has been
    given, and a CSS fallback list naming fonts it lacks would end in tofu boxes.
    """
    import vl_convert

    _register_fonts()
    from aftersales_kit.render.charts import to_spec  # the report theme; importing enables none

    spec = dict(chart if isinstance(chart, Mapping) else to_spec(chart))
    config = dict(spec.get("config", {}))
    config["font"] = CJK_FONT
    config["background"] = "#ffffff"
    for part in ("title", "axis", "legend", "header", "mark", "text"):
        if isinstance(config.get(part), Mapping) and "font" in config[part]:
            config[part] = {**config[part], "font": CJK_FONT}
    spec["config"] = config
    if title is not None:
        spec["title"] = {"text": title, "anchor": "start", "font": CJK_FONT}
    if "width" in spec or not any(k in spec for k in ("hconcat", "vconcat", "concat", "facet")):
        spec["width"] = width
    return vl_convert.vegalite_to_png(spec, scale=2)


@dataclass(frozen=True)
class EmailChart:
    """One chart of the email body: ``cid`` without angle brackets."""

    cid: str
    title: str
    png: bytes
    width: int = CHART_WIDTH


def email_charts(
    diagnosis: Diagnosis, *, lang: str = "zh", domain: str = "aftersales.local"
) -> list[EmailChart]:
    """The two or three PNG charts of the email, skipping those whose frame is empty."""
    from aftersales_kit.render import charts

    d = diagnosis
    built: list[tuple[str, alt.TopLevelMixin]] = []
    if d.trend_daily.height:
        line = d.warning.line_hours
        built.append(
            (
                _s("chart_trend", lang),
                charts.trend_chart(
                    d.trend_daily, line_hours=line, target_hours=d.target_hours, lang=lang
                ),
            )
        )
    if d.stage_by_scene.height:
        built.append(
            (_s("chart_scene", lang), charts.stage_by_scene_chart(d.stage_by_scene, lang=lang))
        )
    if d.alerts.height and d.alerts["count"].sum() > 0:
        built.append((_s("chart_alerts", lang), charts.alerts_chart(d.alerts, lang=lang)))
    return [
        EmailChart(
            cid=make_msgid(domain=domain)[1:-1], title=title, png=chart_png(chart, title=title)
        )
        for title, chart in built[:3]
    ]


# --- body -----------------------------------------------------------------------------------------


@functools.cache
def _jinja() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _store_name(d: Diagnosis, override: str | None = None) -> str:
    return _one_line(override or d.store_name or d.store_id)


def _scene_label(scene: str, lang: str) -> str:
    return text.label("scene", scene, lang)


def _context(d: Diagnosis, *, lang: str, store_name: str | None) -> dict[str, Any]:
    """What the email templates show: every value already formatted in ``lang``."""
    name = _store_name(d, store_name)
    # Already over a stage limit; orders merely past the 60 h line are not a breach.
    breached = d.open_split()["over"]
    warning_text, warning_high = _warning_text(d, lang=lang)
    findings = []
    for f in sorted(d.findings, key=lambda f: -f.severity)[:4]:
        title, suggestion = finding_text(f, lang=lang)
        findings.append({"title": title, "suggestion": suggestion})
    return {
        "lang": lang,
        "store": name,
        "subject": subject(d, lang=lang, store_name=store_name),
        "heading": _s("heading", lang, store=name),
        "meta": _s(
            "meta",
            lang,
            start=fmt.day(d.window.start),
            end=fmt.day(d.window.end),
            days=(d.window.end - d.window.start).days + 1,
            until=fmt.timestamp(d.data_until),
            store_id=d.store_id,
        ),
        "cards": _cards(d, lang=lang),
        "warning": warning_text,
        "warning_high": warning_high,
        "short_board": _short_board_text(d, lang=lang),
        "open_risk": _s(
            "open_risk", lang, n=f"{d.open_at_risk.height:,}", breached=f"{breached:,}"
        ),
        "tomorrow": _tomorrow_text(d, lang=lang),
        "findings": findings,
        "labels": {"short_board": _s("short_board", lang), "findings": _s("findings", lang)},
    }


def _cards(d: Diagnosis, *, lang: str) -> list[dict[str, str]]:
    """The four figure cards: mean (with its change), median, P90, share over 60 h."""
    k, prev = d.kpis, d.prev_kpis
    delta = fmt.delta_pct(k.mean_hours, previous=prev.mean_hours)
    trend = "up" if delta.startswith("↑") else "down" if delta.startswith("↓") else ""
    # The 60 h line is the consumer-warning line, not a target: 目标 only when the user set one.
    if d.target_given:
        line_sub = _s("target", lang, target=fmt.hours(d.target_hours, lang=lang))
    else:
        line_sub = _s("line", lang, line=fmt.hours_label(d.warning.line_hours, lang=lang))
    peer = d.peer_median_hours
    return [
        {
            "label": _s("mean", lang),
            "value": fmt.hours(k.mean_hours, lang=lang),
            "sub": _s("vs_prev", lang, delta=delta),
            "trend": trend,
        },
        {
            "label": _s("median", lang),
            "value": fmt.hours(k.median_hours, lang=lang),
            "sub": _s("counted", lang, n=f"{k.counted:,}"),
            "trend": "",
        },
        {
            "label": _s("p90", lang),
            "value": fmt.hours(k.p90_hours, lang=lang),
            "sub": line_sub,
            "trend": "",
        },
        {
            "label": _s("over60", lang),
            "value": fmt.pct(k.over_60h_share),
            "sub": _s("peer", lang, peer=fmt.hours(peer, lang=lang)) if peer is not None else "",
            "trend": "",
        },
    ]


def _short_board_text(d: Diagnosis, *, lang: str) -> str:
    """The short board, and the controllable one when it is another (scene, stage)."""
    from aftersales_kit.render.sections import excess_line

    target = excess_line(d, lang)
    sb = d.short_board
    if sb is None:
        return _s("no_short_board", lang, target=target)
    out = _s(
        "short_board_text",
        lang,
        target=target,
        scene=_scene_label(sb.scene, lang),
        stage=text.label("stage", sb.stage, lang),
        excess=fmt.hours(sb.excess_hours, lang=lang),
        share=fmt.pct(sb.share_of_excess),
        controllable=fmt.hours(sb.controllable_excess_hours, lang=lang),
    )
    cb = d.controllable_short_board
    if cb is not None and (cb.scene, cb.stage) != (sb.scene, sb.stage):
        out += " " + _s(
            "controllable_text",
            lang,
            scene=_scene_label(cb.scene, lang),
            stage=text.label("stage", cb.stage, lang),
            controllable=fmt.hours(cb.controllable_excess_hours, lang=lang),
        )
    return out


def _warning_text(d: Diagnosis, *, lang: str) -> tuple[str, bool]:
    """(the consumer-warning line, whether it is triggered); empty below the line."""
    w = d.warning
    if w.level not in ("high", "watch"):
        return "", False
    # JD judges on its own figure: from ours, "triggered" is an estimate to check on 风向标, and
    # the store manager is asked for the 风向标 figures (never for a command-line flag).
    basis = w.basis
    key = f"warning_{w.level}" + ("_ours" if w.level == "high" and basis == "ours" else "")
    duration = w.duration_hours
    line = _s(
        key,
        lang,
        mean=fmt.hours(d.kpis.mean_hours if duration is None else duration, lang=lang),
        line=fmt.hours_label(w.line_hours, lang=lang),
        basis=text.label("basis", basis, lang),
    )
    return line, w.level == "high"


def _tomorrow_text(d: Diagnosis, *, lang: str) -> str:
    """The 明天 line: tomorrow's projected mean with the 考核周期 shifted by a day."""
    tomorrow = d.tomorrow
    if tomorrow is None or tomorrow.mean_hours is None:
        return ""
    delta = tomorrow.delta_hours
    signed = "±0" if not delta else ("+" if delta > 0 else "−") + fmt.hours(abs(delta), lang=lang)
    return _s(
        "tomorrow",
        lang,
        mean=fmt.hours(tomorrow.mean_hours, lang=lang),
        delta=signed,
        leaving=f"{tomorrow.leaving.height:,}",
        entering=f"{tomorrow.entering.height:,}",
    )


def subject(diagnosis: Diagnosis, *, lang: str = "zh", store_name: str | None = None) -> str:
    """``【售后时长诊断】示例旗舰店 03-01~03-30 平均 281.7 小时 ↑12%``."""
    d = diagnosis
    delta = fmt.delta_pct(d.kpis.mean_hours, previous=d.prev_kpis.mean_hours)
    return _s(
        "subject",
        lang,
        store=_store_name(d, store_name),
        start=fmt.day(d.window.start, short=True),
        end=fmt.day(d.window.end, short=True),
        mean=fmt.hours(d.kpis.mean_hours, lang=lang),
        delta="" if delta == "—" else delta,
    ).strip()


def attachment_names(
    diagnosis: Diagnosis, *, lang: str = "zh", store_name: str | None = None, zipped: bool = False
) -> tuple[str, str]:
    """(report file name, xlsx file name); Chinese, encoded per RFC 2231 by the email policy.

    With ``zipped`` the report's name is that of the ``.zip`` holding it.
    """
    d = diagnosis
    values = {
        "store": _store_name(d, store_name).replace(" ", "_"),
        "start": fmt.day(d.window.start),
        "end": fmt.day(d.window.end),
    }
    report = _s("report_file", lang, **values)
    if zipped:
        report = report.removesuffix(".html") + ".zip"
    return safe_filename(report), safe_filename(_s("xlsx_file", lang, **values))


#: characters Windows refuses in a file name (and control characters); the store name comes from
#: the data or the recipients file, so an attachment saved from Outlook must not fail on it.
_UNSAFE_NAME = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10))} | {
    f"LPT{i}" for i in range(1, 10)
}


def safe_filename(name: str) -> str:
    """``name`` usable as a file name on Windows, macOS and Linux: unsafe characters become
    ``_``, no trailing dot or space (Windows drops them), no reserved device name."""
    name = fmt.visible(_UNSAFE_NAME.sub("_", name))  # controls → "_", bidi overrides dropped
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    stem = _UNSAFE_NAME.sub("_", stem).rstrip(" .") or "report"
    ext = _UNSAFE_NAME.sub("_", ext).rstrip(" .")
    if stem.split(".")[0].upper() in _RESERVED_NAMES:
        stem = f"_{stem}"
    return f"{stem}.{ext}" if ext else stem


def _footer(diagnosis: Diagnosis, *, lang: str, store_name: str | None, zipped: bool) -> list[str]:
    report_name, xlsx_name = attachment_names(
        diagnosis, lang=lang, store_name=store_name, zipped=zipped
    )
    return [
        _s("foot_report_zip" if zipped else "foot_report", lang, report=report_name),
        _s("foot_xlsx", lang, xlsx=xlsx_name),
        _s("foot_privacy", lang),
    ]


def render_body(
    diagnosis: Diagnosis,
    *,
    charts: Sequence[EmailChart],
    lang: str = "zh",
    store_name: str | None = None,
    zip_report: bool = False,
) -> str:
    """The email HTML: the lean template with its CSS inlined; refuses to exceed 100 KB."""
    import css_inline

    context = _context(diagnosis, lang=lang, store_name=store_name)
    context["charts"] = [{"cid": c.cid, "title": c.title, "width": c.width} for c in charts]
    context["footer"] = _footer(diagnosis, lang=lang, store_name=store_name, zipped=zip_report)
    page = _jinja().get_template("store_email.html.j2").render(**context)
    inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)
    body = inliner.inline(page)
    size = len(body.encode("utf-8"))
    if size > MAX_BODY_BYTES:
        msg = (
            f"邮件正文过大 (email body too large): {size} 字节 > {MAX_BODY_BYTES}; "
            "Gmail 会截断正文 (Gmail clips it); 请精简模板 templates/email/"
        )
        raise DeliveryError(msg)
    return body


def render_text(
    diagnosis: Diagnosis,
    *,
    lang: str = "zh",
    store_name: str | None = None,
    zip_report: bool = False,
) -> str:
    """The plain-text alternative: the same summary without tables or images."""
    c = _context(diagnosis, lang=lang, store_name=store_name)
    lines = [c["heading"], c["meta"], ""]
    lines += [f"{card['label']}: {card['value']}  {card['sub']}".rstrip() for card in c["cards"]]
    if c["warning"]:
        lines += ["", c["warning"]]
    lines += ["", f"{c['labels']['short_board']}: {c['short_board']}", c["open_risk"]]
    if c["tomorrow"]:
        lines.append(c["tomorrow"])
    if c["findings"]:
        lines += ["", _s("text_findings", lang)]
        for i, f in enumerate(c["findings"], 1):
            lines.append(f"{i}. {f['title']}")
            if f["suggestion"]:
                lines.append(f"   {f['suggestion']}")
    lines += ["", _s("text_charts", lang)]
    lines += _footer(diagnosis, lang=lang, store_name=store_name, zipped=zip_report)
    return "\n".join(lines) + "\n"


# --- message --------------------------------------------------------------------------------------


def build_message(
    diagnosis: Diagnosis,
    *,
    report_html: Path | bytes,
    sender: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    lang: str = "zh",
    store_name: str | None = None,
    charts: Sequence[EmailChart] | None = None,
    zip_report: bool = False,
) -> EmailMessage:
    """Build the whole message for one store (see the module docstring for its MIME tree).

    Parameters
    ----------
    diagnosis
        The store's ``Diagnosis`` (personal data already masked by ``diagnose``).
    report_html
        The rendered interactive report (a path, or its bytes), attached as is.
    sender, to, cc
        Addresses; display names may be Chinese (RFC 2047 encoded by the email policy).
    store_name
        Display name overriding ``diagnosis.store_name`` (from the recipients file).
    charts
        Pre-rendered charts; default renders them with :func:`email_charts`.
    """
    _check_addresses(sender, to=to, cc=cc)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "aftersales.local"
    if charts is None:
        charts = email_charts(diagnosis, lang=lang, domain=domain)
    html = render_body(
        diagnosis, charts=charts, lang=lang, store_name=store_name, zip_report=zip_report
    )
    message = EmailMessage()
    message["Subject"] = subject(diagnosis, lang=lang, store_name=store_name)
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(
        render_text(diagnosis, lang=lang, store_name=store_name, zip_report=zip_report)
    )
    message.add_alternative(html, subtype="html")
    related = list(message.iter_parts())[1]  # multipart/alternative: text, then html
    for number, chart in enumerate(charts, 1):
        related.add_related(
            chart.png,
            "image",
            "png",
            cid=f"<{chart.cid}>",
            disposition="inline",
            filename=f"chart-{number}.png",
        )
    _attach_files(
        message,
        diagnosis,
        report_html=report_html,
        lang=lang,
        store_name=store_name,
        zip_report=zip_report,
    )
    return message


def _check_addresses(sender: str, *, to: Sequence[str], cc: Sequence[str]) -> None:
    """At least one ``to``; every address has an ``@`` and no line break."""
    if not to:
        msg = "没有收件人 (no recipients): 请用 --to 指定 (pass --to ADDR)"
        raise UsageError(msg)
    for address in (sender, *to, *cc):
        if "@" not in parseaddr(address)[1] or "\n" in address or "\r" in address:
            msg = f"邮件地址无效 (invalid email address): {address!r}"
            raise UsageError(msg)


def _attach_files(
    message: EmailMessage,
    diagnosis: Diagnosis,
    *,
    report_html: Path | bytes,
    lang: str,
    store_name: str | None,
    zip_report: bool,
) -> None:
    """Attach the full report (as html, or zipped) and the xlsx action lists."""
    if isinstance(report_html, bytes):
        report_bytes = report_html
    else:
        from aftersales_kit.render.assets import inline

        # A batch page links the reports folder's shared chart library; the attachment must
        # stand alone, so the library goes back inline.
        page = Path(report_html)
        report_bytes = inline(page.read_text(encoding="utf-8"), page_dir=page.parent).encode()
    report_name, xlsx_name = attachment_names(diagnosis, lang=lang, store_name=store_name)
    if zip_report:
        # Many company mail gateways quarantine .html attachments; a zip passes.
        zip_name, _ = attachment_names(diagnosis, lang=lang, store_name=store_name, zipped=True)
        message.add_attachment(
            _zip_one(report_bytes, name=report_name),
            maintype="application",
            subtype="zip",
            filename=zip_name,
        )
    else:
        # As text with an explicit charset, so clients that preview it do not guess the encoding.
        message.add_attachment(
            report_bytes.decode("utf-8", "replace"),
            subtype="html",
            charset="utf-8",
            cte="base64",
            filename=report_name,
        )
    message.add_attachment(
        action_lists_bytes(diagnosis, lang=lang),
        maintype=XLSX_TYPE[0],
        subtype=XLSX_TYPE[1],
        filename=xlsx_name,
    )


def _zip_one(data: bytes, *, name: str) -> bytes:
    """``data`` as the single file ``name`` of a deflated zip (UTF-8 file name)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def write_eml(message: EmailMessage, *, outbox: Path, stem: str) -> Path:
    """Write ``message`` to ``outbox/<stem>.eml`` (atomically) and return the path."""
    outbox.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^\w.-]+", "_", stem).strip("._") or "message"
    path = outbox / f"{safe}.eml"
    return atomic_write(path, data=message.as_bytes(policy=message.policy.clone(linesep="\r\n")))


# --- sent-log -------------------------------------------------------------------------------------


class SentLog:
    """Append-only JSON lines: per (report fingerprint, recipient) a ``pending`` line before the
    send and one with its outcome (``sent``, ``failed``, ``unknown``) after it; the last wins."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        entries = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from an interrupted run must not block sending
            if isinstance(entry, dict):
                entries.append(entry)
        return entries

    def sent(self, *, fingerprint: str) -> dict[str, str]:
        """Recipients (lower-case addresses) this report must not go to again without
        ``--resend`` → their last status: ``sent``, ``unknown`` or ``pending``.

        ``unknown`` (no reply after the message end) and ``pending`` (logged before the send,
        never resolved: the run was killed or the disk was full mid-send) count as sent: the
        mail may be queued. A last status ``failed`` is sent again.
        """
        last = {
            str(e.get("recipient", "")).lower(): str(e.get("status", "sent"))
            for e in self._entries()
            if e.get("fingerprint") == fingerprint
        }
        return {r: status for r, status in last.items() if status in HELD}

    def append(self, entry: Mapping[str, object]) -> None:
        """Append one line (an entry of :func:`log_entry`); the folder is made when missing."""
        self.append_all([entry])

    def append_all(self, entries: Sequence[Mapping[str, object]]) -> None:
        """Append ``entries`` as lines, all or none, on disk (fsync) before this returns.

        A "pending" line must survive a kill or a power cut during the send it announces. When
        the disk is full the file is cut back to where it was (a torn line or half the batch
        would announce sends that never happen) and ``OSError`` is raised; callers decide.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries).encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                if os.write(fd, data) != len(data):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)


#: Sent-log statuses that keep a recipient from being sent the same report again (``--resend``
#: overrides): delivered, unconfirmed after the message end, or announced and never resolved.
HELD = ("sent", "unknown", "pending")


def log_failure(exc: OSError, *, path: Path) -> str:
    """Why the sent-log could not be written, in one line (a full disk, a read-only folder)."""
    reason = exc.strerror or str(exc)
    return f"发送记录无法写入 (sent-log not writable): {path}: {reason}"


def log_entry(
    *,
    fingerprint: str,
    store_id: str,
    window: Window,
    recipient: str,
    message_id: str = "",
    status: str = "sent",
    channel: str | None = None,
) -> dict[str, str]:
    """One sent-log line: the report (fingerprint, store, window), the recipient (an address, or
    a bot as ``wecom:<hash>``) and when; ``channel`` for a push."""
    entry = {
        "time": datetime.now().isoformat(timespec="seconds"),
        "status": status,
        "fingerprint": fingerprint,
        "store_id": store_id,
        "start": fmt.day(window.start),
        "end": fmt.day(window.end),
        "recipient": recipient,
        "message_id": message_id,
    }
    if channel is not None:
        entry["channel"] = channel
    return entry


# --- delivery -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What happened to one store's email; ``log_error`` when the sent-log could not be
    written (the results still say what the server did)."""

    store_id: str
    results: tuple[RecipientResult, ...] = ()
    eml: Path | None = None
    log_error: str = ""

    @property
    def ok(self) -> bool:
        return not self.log_error and all(
            r.status not in ("failed", "unknown") for r in self.results
        )


def deliver(
    diagnosis: Diagnosis,
    *,
    report_html: Path | bytes,
    to: Sequence[str],
    cc: Sequence[str] = (),
    settings: SmtpSettings | None = None,
    sender: str | None = None,
    outbox: Path = Path("reports/outbox"),
    dry_run: bool = False,
    resend: bool = False,
    lang: str = "zh",
    store_name: str | None = None,
    charts: Sequence[EmailChart] | None = None,
    zip_report: bool = False,
    key: str,
) -> Delivery:
    """Send one store's email (or write it as ``.eml`` with ``dry_run``), honouring the sent-log.

    Recipients already in the sent-log for this report are skipped unless ``resend``; the others
    are sent in one SMTP transaction with per-recipient results (see
    :func:`aftersales_kit.deliver.smtp.send_message`). Only delivered recipients are logged.
    ``key`` names the report in the sent-log: its fingerprint
    (:func:`aftersales_kit.render.report.fingerprint`, the one freshness rule).
    """
    if not dry_run and settings is None:
        msg = "发送邮件需要 SMTP 设置 (SMTP settings are required unless dry_run)"
        raise DeliveryError(msg)
    from_addr = sender or (settings.sender if settings else "aftersales@localhost")
    message = build_message(
        diagnosis,
        report_html=report_html,
        sender=from_addr,
        to=to,
        cc=cc,
        lang=lang,
        store_name=store_name,
        charts=charts,
        zip_report=zip_report,
    )
    d = diagnosis
    if dry_run:
        stem = f"{d.store_id}_{fmt.day(d.window.start)}_{fmt.day(d.window.end)}"
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        return Delivery(
            store_id=d.store_id, eml=write_eml(message, outbox=outbox, stem=f"{stem}_{stamp}")
        )
    assert settings is not None
    return _send_logged(
        message,
        d,
        envelope=[addr for _, addr in getaddresses([*to, *cc]) if addr],
        settings=settings,
        log=SentLog(outbox / SENT_LOG),
        key=key,
        resend=resend,
    )


#: Why a recipient is skipped, by its sent-log status.
_SKIP_NOTES = {
    "sent": "已发送过 (already sent; --resend to repeat)",
    "unknown": (
        "上次发送状态未知，可能已送达 (last attempt unknown: the server did not confirm; "
        "--resend to send again)"
    ),
    "pending": (
        "上次发送被中断，可能已送达 (last attempt was interrupted mid-send: it may be delivered; "
        "--resend to send again)"
    ),
}


def _send_logged(
    message: EmailMessage,
    diagnosis: Diagnosis,
    *,
    envelope: Sequence[str],
    settings: SmtpSettings,
    log: SentLog,
    key: str,
    resend: bool,
) -> Delivery:
    """Send to the recipients the sent-log does not hold for ``key``, each logged "pending"
    before the send and with its outcome after it.

    A recipient whose "pending" line cannot be written is not sent to (a later run could not know
    it was); an outcome that cannot be written leaves "pending", which a rerun skips.
    """
    already = {} if resend else log.sent(fingerprint=key)
    skipped = [
        RecipientResult(
            r, "skipped", None, _SKIP_NOTES.get(already[r.lower()], _SKIP_NOTES["sent"])
        )
        for r in envelope
        if r.lower() in already
    ]
    pending = [r for r in envelope if r.lower() not in already]
    message_id = str(message["Message-ID"])

    def note(recipients: Sequence[str], status: str | Sequence[str]) -> None:
        statuses = [status] * len(recipients) if isinstance(status, str) else list(status)
        log.append_all(
            [
                log_entry(
                    fingerprint=key,
                    store_id=diagnosis.store_id,
                    window=diagnosis.window,
                    recipient=r.lower(),
                    message_id=message_id,
                    status=st,
                )
                for r, st in zip(recipients, statuses, strict=True)
            ]
        )

    results: list[RecipientResult] = []
    log_error = ""
    if pending:
        try:
            note(pending, "pending")
        except OSError as exc:
            log_error = log_failure(exc, path=log.path)
            results = [RecipientResult(r, "failed", None, log_error) for r in pending]
            pending = []
    if pending:
        try:
            results = send_message(message, recipients=pending, settings=settings)
        except DeliveryError:
            # Login, certificate or size: refused before any DATA, so nothing went out.
            with contextlib.suppress(OSError):  # if it stays pending, --resend sends it
                note(pending, "failed")
            raise
        try:
            note([r.recipient for r in results], [r.status for r in results])
        except OSError as exc:
            log_error = log_failure(exc, path=log.path) + (
                "; 已记为待定，不会自动重发 (left as pending: not resent without --resend)"
            )
    by_addr = {r.recipient: r for r in [*skipped, *results]}
    return Delivery(
        store_id=diagnosis.store_id,
        results=tuple(by_addr[r] for r in envelope),
        log_error=log_error,
    )


# --- CLI ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreRecipients:
    """One ``[stores."<id>"]`` entry of the recipients file (``[estate]``: store_id ``estate``).

    ``wecom``/``dingtalk`` are webhook URLs and ``dingtalk_secret`` the robot's signing secret,
    with ``${NAME}`` already taken from the environment; they hold keys, so ``repr`` hides them.
    """

    store_id: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    name: str | None = None
    wecom: str | None = field(default=None, repr=False)
    dingtalk: str | None = field(default=None, repr=False)
    dingtalk_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RecipientsFile:
    """The whole recipients file: the stores, the ``[estate]`` channels, ``report_base_url``."""

    stores: tuple[StoreRecipients, ...]
    estate: StoreRecipients | None = None
    report_base_url: str | None = None


#: The push channels of a store or of ``[estate]``; their values may use ``${NAME}``.
ChannelKey = Literal["wecom", "dingtalk", "dingtalk_secret"]
CHANNEL_KEYS: tuple[ChannelKey, ...] = ("wecom", "dingtalk", "dingtalk_secret")


class Channels(TypedDict):
    """The push channels of a recipients entry (webhook URLs and the DingTalk signing secret)."""

    wecom: str | None
    dingtalk: str | None
    dingtalk_secret: str | None


def _channels(
    entry: Mapping[str, object], *, where: str, env: Mapping[str, str] | None
) -> Channels:
    from aftersales_kit.config import expand_env

    values: Channels = {"wecom": None, "dingtalk": None, "dingtalk_secret": None}
    for key in CHANNEL_KEYS:
        raw = entry.get(key)
        if raw is None:
            continue
        if not isinstance(raw, str):
            # Named by its type only: the value may be a key written in the file.
            msg = f"{where}.{key} 必须是字符串 (must be a string), 实际为 {type(raw).__name__}"
            raise UsageError(msg)
        value = expand_env(raw, where=f"{where}.{key}", env=env).strip()
        if key != "dingtalk_secret" and not value.startswith(("https://", "http://")):
            # Never echo the value: it is a webhook with its key.
            msg = f"{where}.{key} 不是 http(s) 网址 (is not an http(s) URL)"
            raise UsageError(msg)
        values[key] = value or None
    if values["dingtalk_secret"] and not values["dingtalk"]:
        msg = f"{where}: 有 dingtalk_secret 但没有 dingtalk (dingtalk_secret without dingtalk)"
        raise UsageError(msg)
    return values


def read_recipients(
    path: str | Path, *, env: Mapping[str, str] | None = None, require_to: bool = True
) -> RecipientsFile:
    """Parse the recipients file (``stores.toml``) with its push channels.

    ``[stores."<id>"]`` tables are read by :func:`aftersales_kit.config.parse_stores` (the same
    keys as a data folder's ``stores.toml``, so one file can serve both); ``[estate]`` holds the
    channels of the estate summary; ``report_base_url`` (top level) is where ``reports/`` is
    served. With ``require_to`` every store needs ``to`` (``email --all``); ``daily`` also takes
    stores that only have push channels.
    """
    from aftersales_kit.config import parse_stores

    path = Path(path)
    raw = _read_toml(path)
    stores = raw.get("stores")
    if not isinstance(stores, dict) or not stores:
        msg = f'{path}: 缺少 [stores."<店铺ID>"] 表 (no [stores."<id>"] tables)'
        raise UsageError(msg)
    entries = tuple(
        _store_recipients(
            parsed, where=f'{path}: stores."{parsed.store_id}"', env=env, require_to=require_to
        )
        for parsed in parse_stores(stores, source=path, base=path.parent)
    )
    return RecipientsFile(
        entries,
        _estate(raw.get("estate"), path=path, env=env),
        _base_url(raw.get("report_base_url"), path=path, env=env),
    )


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        msg = (
            f"收件人文件不存在 (recipients file not found): {path}; "
            '格式 (format): [stores."1000101"] name = "示例旗舰店", to = ["a@b.com"]'
        )
        raise UsageError(msg)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"收件人文件无法解析 (invalid TOML in {path}): {exc}"
        raise UsageError(msg) from exc


def _store_recipients(
    parsed: StoreEntry, *, where: str, env: Mapping[str, str] | None, require_to: bool
) -> StoreRecipients:
    """One store's ``to``/``cc`` lists and push channels."""
    lists = {}
    for key in ("to", "cc"):
        value = parsed.extra.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            msg = f"{where}.{key} 必须是地址列表 (must be a list of addresses): {value!r}"
            raise UsageError(msg)
        lists[key] = tuple(value)
    if require_to and not lists["to"]:
        msg = f"{where}.to 为空 (no recipients)"
        raise UsageError(msg)
    channels = _channels(parsed.extra, where=where, env=env)
    return StoreRecipients(parsed.store_id, lists["to"], lists["cc"], parsed.name, **channels)


def _estate(table: object, *, path: Path, env: Mapping[str, str] | None) -> StoreRecipients | None:
    """The ``[estate]`` table: push channels only."""
    if table is None:
        return None
    unknown = set(table) - set(CHANNEL_KEYS) if isinstance(table, dict) else {"?"}
    if unknown or not isinstance(table, dict):
        msg = (
            f"{path}: [estate] 含未知键 (unknown keys): {', '.join(sorted(unknown))}; "
            f"可用 (allowed): {', '.join(CHANNEL_KEYS)}"
        )
        raise UsageError(msg)
    return StoreRecipients("estate", (), **_channels(table, where=f"{path}: estate", env=env))


def _base_url(base: object, *, path: Path, env: Mapping[str, str] | None) -> str | None:
    """``report_base_url`` with ``${NAME}`` expanded; empty → None."""
    from aftersales_kit.config import expand_env

    if base is None:
        return None
    if not isinstance(base, str):
        msg = f"{path}: report_base_url 必须是字符串 (must be a string): {base!r}"
        raise UsageError(msg)
    url = expand_env(base, where=f"{path}: report_base_url", env=env).strip()
    if not url:
        return None
    # It becomes a markdown link in every push: only a plain http(s) address, nothing that could
    # close the link and open another one or mention @all.
    if not url.lower().startswith(("https://", "http://")) or _URL_BREAKERS.search(url):
        msg = (
            f"{path}: report_base_url 必须是 http(s) 网址，不含空格和 ()[]<>\"'` "
            "(must be a plain http(s) URL without spaces or brackets), "
            "例如 (e.g.) https://intranet.example/reports"
        )
        raise UsageError(msg)
    return url


_URL_BREAKERS = re.compile(r"[\s()\[\]<>\"'`\\]|[\x00-\x1f\x7f]")


def load_recipients(
    path: str | Path, *, env: Mapping[str, str] | None = None
) -> list[StoreRecipients]:
    """Parse ``stores.toml``: ``[stores."1000101"] name = "…", to = ["a@b.com"], cc = [...]``."""
    return list(read_recipients(path, env=env).stores)


class ReportOptions(TypedDict):
    """The load options a report was rendered with (part of its fingerprint)."""

    skip_bad_rows: bool
    store_id: str | None


def report_params(
    diagnosis: Diagnosis,
    *,
    data: Sequence[Path],
    rules: str | None,
    lang: str,
    as_of: str | None,
    skip_bad_rows: bool = False,
    store_id: str | None = None,
) -> ReportParams:
    """The notebook parameters of the report this email attaches (as ``aftersales report``)."""
    from aftersales_kit.render import report
    from aftersales_kit.window import is_as_of_data

    d = diagnosis
    if is_as_of_data(as_of):
        as_of = None  # --as-of data: the diagnosis holds the time it resolved to
    return report.ReportParams(
        store=d.store_id,
        start=d.window.start.isoformat(),
        end=d.window.end.isoformat(),
        data=tuple(str(p) for p in data),
        rules=rules or "",
        lang=lang,
        as_of=as_of or d.as_of.isoformat(sep=" "),
        skip_bad_rows=skip_bad_rows,
        store_id=store_id or "",
    )


def report_key(
    diagnosis: Diagnosis, *, params: ReportParams, rows: str | None, as_of_given: bool
) -> str:
    """The report's fingerprint (:func:`aftersales_kit.render.report.fingerprint`, the one freshness
    rule); without the rows digest it never matches a sidecar, so nothing stale is reused."""
    from aftersales_kit.render import report

    return report.fingerprint(
        params,
        rows=rows if rows is not None else f"unknown-{id(diagnosis)}",
        inputs=report.inputs_of(diagnosis),
        as_of_given=as_of_given,
    )


def ensure_report(
    diagnosis: Diagnosis,
    *,
    out_dir: Path,
    data: Sequence[Path],
    rules: str | None,
    lang: str,
    as_of: str | None,
    rows: str | None = None,
    skip_bad_rows: bool = False,
    store_id: str | None = None,
) -> Path:
    """The store's report: reused when its sidecar has the same fingerprint, else rendered now.

    The fingerprint is the batch's and ``aftersales report``'s (data rows, peers, language,
    rules, window, explicit as-of, options), so a report of another language, rules file or
    as-of is never attached.
    """
    from aftersales_kit.render import report

    d = diagnosis
    params = report_params(
        d,
        data=data,
        rules=rules,
        lang=lang,
        as_of=as_of,
        skip_bad_rows=skip_bad_rows,
        store_id=store_id,
    )
    key = report_key(d, params=params, rows=rows, as_of_given=bool(as_of))
    path = report.report_path(out_dir, store=d.store_id, window=d.window)
    if report.is_current(path, digest=key):
        return path
    with report.private_dir("email") as tmp:
        cache_path = report.handoff(d, path=tmp / "diagnosis.pkl")
        path = report.render(dataclasses.replace(params, cache=str(cache_path)), out_dir=out_dir)
    side = report.sidecar(d, html_path=path, out_dir=Path(out_dir), digest=key, lang=lang)
    report.write_sidecar(path, side)
    return path


def mail_store(
    diagnosis: Diagnosis,
    *,
    target: StoreRecipients,
    out_dir: Path,
    data: Sequence[Path],
    rules: str | None,
    lang: str,
    as_of: str | None,
    rows: str,
    options: ReportOptions,
    settings: SmtpSettings | None,
    dry_run: bool,
    resend: bool = False,
    zip_report: bool = False,
    report_html: Path | None = None,
    key: str | None = None,
    sender: str | None = None,
) -> tuple[Path, Delivery]:
    """One store's mail, as ``email`` and ``daily`` send it: the current report (rendered when
    it is not, unless ``report_html`` is given), its fingerprint (unless ``key``), then
    :func:`deliver` to ``target``'s ``to``/``cc`` with ``out_dir/outbox`` as the outbox.

    Returns the report attached and what happened to the mail.
    """
    d = diagnosis
    if report_html is None:
        report_html = ensure_report(
            d, out_dir=out_dir, data=data, rules=rules, lang=lang, as_of=as_of, rows=rows, **options
        )
    if key is None:
        params = report_params(d, data=data, rules=rules, lang=lang, as_of=as_of, **options)
        key = report_key(d, params=params, rows=rows, as_of_given=bool(as_of))
    delivery = deliver(
        d,
        report_html=report_html,
        to=target.to,
        cc=target.cc,
        settings=settings,
        outbox=out_dir / "outbox",
        dry_run=dry_run,
        resend=resend,
        lang=lang,
        store_name=target.name,
        zip_report=zip_report,
        key=key,
        sender=sender,
    )
    return report_html, delivery
