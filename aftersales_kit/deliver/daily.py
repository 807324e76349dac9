"""The morning routine in one command: ``aftersales daily`` / ``make daily``.

1. load and validate the exports (the data-quality summary goes into the run record) and
   diagnose every store once;
2. render every store's report and the index with the batch (:func:`batch.run_batch`: current
   reports are skipped, an interrupted run resumes; the index is rebuilt only when a report
   changed or it is missing);
3. mail each store of the recipients file that has ``to`` (as ``email --all``: the up-to-date
   report is attached, the sent-log keeps a rerun from mailing it again);
4. push a short message per store to its 企业微信 / 钉钉 bots and an estate summary to the
   ``[estate]`` bots (:mod:`aftersales_kit.deliver.push`);
5. write ``reports/daily-<end>.json`` (``<end>``: the last day of the 考核周期) and print a
   table.

``--deliver-only`` skips step 2 and delivers the reports already in ``--out``: after sharded
``batch --shard K/N`` runs (each loads every store and reads or writes the estate pass,
``_estate.json``, so their pages are the ones this process would render) there is nothing left
to render.

One sent-log (``reports/outbox/sent-log.jsonl``) holds mail and push: a push is logged under the
store's report fingerprint with the bot as recipient (``wecom:<hash of its URL>``), so a second run
for the same data sends nothing that was delivered. Each bot gets its messages in order from its
own thread (the rate limit is per bot), so a throttled or broken bot holds up neither the others
nor the mail.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Required, TypedDict, Unpack

from aftersales_kit import format as fmt
from aftersales_kit.deliver import mail as deliver
from aftersales_kit.deliver import push
from aftersales_kit.errors import AftersalesError, DeliveryError, UsageError
from aftersales_kit.render import batch

if TYPE_CHECKING:
    from aftersales_kit.deliver.mail import Delivery, RecipientsFile, ReportOptions, StoreRecipients
    from aftersales_kit.deliver.smtp import SmtpSettings
    from aftersales_kit.load import LoadReport
    from aftersales_kit.model import Diagnosis
    from aftersales_kit.pipeline import Computed
    from aftersales_kit.rules import Rules
    from aftersales_kit.window import Window

RECORD_PREFIX = "daily-"
PUSH_THREADS = 8
ESTATE = "estate"


# --- helpers --------------------------------------------------------------------------------------


def recipients_path(given: str | None, *, data: Sequence[Path]) -> Path:
    """``--recipients``, else ``./stores.toml``, else the ``stores.toml`` of a data folder (the
    file that already names each download's store can list its recipients too)."""
    from aftersales_kit.config import STORES_FILE

    if given:
        return Path(given)
    candidates = [Path(STORES_FILE)]
    for path in data:
        candidates.append((path if path.is_dir() else path.parent) / STORES_FILE)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    msg = (
        "找不到收件人文件 (no recipients file): 请用 --recipients 指定，或在当前目录或数据文件夹中"
        f"放置 {STORES_FILE} (pass --recipients, or put {STORES_FILE} here or in the data folder)"
    )
    raise UsageError(msg)


class _Log:
    """The sent-log shared with :mod:`aftersales_kit.deliver.mail` (same file, same line shape);
    appends from the push threads are serialised."""

    def __init__(self, path: Path) -> None:
        from aftersales_kit.deliver.mail import SentLog

        self.log = SentLog(path)
        self.lock = threading.Lock()

    def sent(self, *, fingerprint: str) -> dict[str, str]:
        with self.lock:
            return self.log.sent(fingerprint=fingerprint)

    def record(
        self, *, fingerprint: str, store: str, recipient: str, window: Window, status: str
    ) -> None:
        """One line; ``OSError`` (a full disk) is the caller's to handle."""
        from aftersales_kit.deliver.mail import log_entry

        entry = log_entry(
            fingerprint=fingerprint,
            store_id=store,
            window=window,
            recipient=recipient,
            channel=recipient.partition(":")[0],
            status=status,
        )
        with self.lock:
            self.log.append(entry)


@dataclass(frozen=True)
class PushJob:
    """One message for one bot."""

    store: str
    channel: str
    url: str = field(repr=False)
    secret: str | None = field(repr=False)
    message: push.Message
    key: str


#: Why a bot is skipped, by its sent-log status.
_PUSH_SKIP_NOTES = {
    "sent": "已推送过 (already sent)",
    "unknown": "上次推送状态未知，可能已发出 (last push unconfirmed: it may be posted; --resend)",
    "pending": "上次推送被中断，可能已发出 (last push interrupted: it may be posted; --resend)",
}


def _run_push(
    job: PushJob,
    *,
    log: _Log,
    window: Window,
    settings: push.PushSettings,
    dry_run: bool,
    resend: bool,
    outbox: Path,
    stamp: str,
) -> push.PushResult:
    """One message to one bot, logged "pending" before the POST and with its outcome after it
    (a bot whose "pending" cannot be written is not posted to)."""
    from aftersales_kit.deliver.mail import log_failure

    recipient = push.channel_id(job.channel, job.url)
    if dry_run:
        from aftersales_kit.files import atomic_write
        from aftersales_kit.render.report import safe_store

        path = outbox / f"push_{stamp}_{safe_store(job.store)}_{job.channel}.json"
        # The payload as it would be posted; never the URL or the secret (they hold keys).
        body = {
            "store": job.store,
            "channel": job.channel,
            "bot": recipient,
            "signed": bool(job.secret),
            "payload": push.payload(job.channel, job.message),
        }
        atomic_write(path, data=json.dumps(body, ensure_ascii=False, indent=1))
        return push.PushResult(job.store, job.channel, "dry_run", detail=str(path))
    held = {} if resend else log.sent(fingerprint=job.key)
    if recipient in held:
        why = _PUSH_SKIP_NOTES.get(held[recipient], _PUSH_SKIP_NOTES["sent"])
        return push.PushResult(job.store, job.channel, "skipped", detail=why)

    def note(status: str) -> None:
        log.record(
            fingerprint=job.key, store=job.store, recipient=recipient, window=window, status=status
        )

    try:
        note("pending")
    except OSError as exc:
        return push.PushResult(
            job.store, job.channel, "failed", detail=log_failure(exc, path=log.log.path)
        )
    result = push.send(
        job.channel,
        job.message,
        url=job.url,
        store=job.store,
        secret=job.secret,
        settings=settings,
    )
    try:
        note(result.status)
    except OSError as exc:
        detail = log_failure(exc, path=log.log.path)
        return dataclasses.replace(
            result,
            log_error=f"{detail}; 已记为待定，不会自动重发 (left as pending: not resent)",
        )
    return result


class RecipientEntry(TypedDict):
    recipient: str
    status: str
    code: int | None
    detail: str


class MailEntry(TypedDict, total=False):
    """One store's mail in the run record: ``status`` sent, skipped, failed, unknown, dry_run or
    none, per recipient, and why when it failed before any recipient."""

    status: Required[str]
    recipients: Required[list[RecipientEntry]]
    detail: str
    eml: str
    log_error: str


#: A store without a mail entry (the run stopped before its mail).
NO_MAIL: MailEntry = {"status": "none", "recipients": []}


class StoreRecord(TypedDict):
    """One store of the recipients file in the run record."""

    name: str | None
    report: str | None
    mail: MailEntry | None
    push: list[push.PushEntry]
    errors: list[str]


class EstateRecord(TypedDict):
    push: list[push.PushEntry]


class FailedRender(TypedDict):
    store: str
    reason: str


class RenderEntry(TypedDict):
    done: int
    skipped: int
    failed: list[FailedRender]


class WindowEntry(TypedDict):
    start: str
    end: str


class RunRecord(TypedDict):
    """``reports/daily-<end>.json``: what one run did (the one place that says what was sent)."""

    date: str
    run_at: str
    window: WindowEntry
    as_of: str
    dry_run: bool
    deliver_only: bool
    ok: bool
    error: str | None
    data: list[str]
    data_quality: dict[str, object] | None
    render: RenderEntry
    index: str | None
    index_error: str | None
    stores: dict[str, StoreRecord]
    estate: EstateRecord
    stores_without_orders: list[str]


class _PushOptions(TypedDict):
    """What every push of a run shares (the keyword arguments of :func:`_run_push`)."""

    log: _Log
    window: Window
    settings: push.PushSettings
    dry_run: bool
    resend: bool
    outbox: Path
    stamp: str


def _push_all(
    jobs: Sequence[PushJob], **kwargs: Unpack[_PushOptions]
) -> list[Future[list[push.PushResult]]]:
    """Start the pushes: one thread per bot (its messages in order), several bots at once."""
    by_bot: dict[str, list[PushJob]] = {}
    for job in jobs:
        by_bot.setdefault(job.url, []).append(job)

    def run(group: list[PushJob]) -> list[push.PushResult]:
        results = []
        for job in group:
            try:
                results.append(_run_push(job, **kwargs))
            except Exception as exc:  # one bot's surprise must not lose the others' results
                detail = push.redact(f"{type(exc).__name__}: {exc}")
                results.append(push.PushResult(job.store, job.channel, "failed", detail=detail))
        return results

    if not by_bot:
        return []
    pool = ThreadPoolExecutor(max_workers=min(PUSH_THREADS, len(by_bot)))
    futures = [pool.submit(run, group) for group in by_bot.values()]
    pool.shutdown(wait=False)
    return futures


def _mail_summary(delivery: Delivery) -> MailEntry:
    results = [
        RecipientEntry(recipient=r.recipient, status=r.status, code=r.code, detail=r.detail)
        for r in delivery.results
    ]
    statuses = {r["status"] for r in results}
    if delivery.eml is not None:
        status = "dry_run"
    elif "failed" in statuses:
        status = "failed"
    elif "unknown" in statuses:
        status = "unknown"  # the server never confirmed: may be delivered, not resent
    elif statuses == {"skipped"}:
        status = "skipped"
    else:
        status = "sent"
    summary: MailEntry = {"status": status, "recipients": results}
    if delivery.eml is not None:
        summary["eml"] = str(delivery.eml)
    if delivery.log_error:
        summary["log_error"] = delivery.log_error
    return summary


def _estate_key(window: Window, *, lang: str, digests: Mapping[str, str]) -> str:
    text = json.dumps(
        {"window": [str(window.start), str(window.end)], "lang": lang, "rows": dict(digests)},
        sort_keys=True,
    )
    return "estate-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _horizon() -> float:
    """How far ahead an open service order counts as due (the findings' limit)."""
    from aftersales_kit.findings import LIMITS

    return float(LIMITS.open_horizon_hours)


# --- the command ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DailyRequest:
    """What a ``daily`` run was asked for (the command line's options, typed; None: not given)."""

    data: tuple[str, ...] = ()
    recipients: str | None = None
    start: str | None = None
    end: str | None = None
    rules: str | None = None
    as_of: str | None = None
    lang: str = "zh"
    out: str = "reports"
    workers: int | None = None
    dry_run: bool = False
    deliver_only: bool = False
    resend: bool = False
    zip_report: bool = False
    #: the configuration file, already looked up by the command line (None: the defaults)
    config: str | None = None
    skip_bad_rows: bool = False
    store_id: str | None = None
    #: where parsed spreadsheets are kept between runs (None: parse every file)
    cache_dir: Path | None = None


@dataclass(frozen=True)
class _Plan:
    """The request, parsed and checked before anything is rendered or sent."""

    args: DailyRequest
    config: str | None
    out: Path
    paths: list[Path]
    recipients: RecipientsFile
    push_settings: push.PushSettings
    ruleset: Rules
    as_of: datetime
    window: Window
    options: ReportOptions
    deliver_only: bool
    smtp: SmtpSettings | None
    smtp_error: str
    sender: str | None = None

    @property
    def lang(self) -> str:
        return self.args.lang

    @property
    def dry_run(self) -> bool:
        return self.args.dry_run

    @property
    def resend(self) -> bool:
        return self.args.resend

    @property
    def outbox(self) -> Path:
        return self.out / "outbox"


@dataclass(frozen=True)
class _Data:
    """Step 1: the exports loaded and every store diagnosed."""

    computed: Computed
    found: list[str]
    digests: dict[str, str]

    @property
    def diagnoses(self) -> Mapping[str, Diagnosis]:
        return self.computed.diagnoses

    @property
    def report(self) -> LoadReport:
        report = self.computed.load_report
        assert report is not None  # loaded from paths, never a frame: the load report exists
        return report


@dataclass(frozen=True)
class _Render:
    """Step 2: the batch's outcome and the index."""

    result: batch.BatchResult
    index_path: Path
    index_error: str


@dataclass
class _Run:
    """What a run has done so far: the run record is written from this on every exit path."""

    data: _Data | None = None
    rendered: _Render | None = None
    records: dict[str, StoreRecord] = field(default_factory=dict)
    estate: EstateRecord = field(default_factory=lambda: EstateRecord(push=[]))
    futures: list[Future[list[push.PushResult]]] = field(default_factory=list)

    def collect(self) -> None:
        """Wait for the push threads and file their results (once)."""
        futures, self.futures = self.futures, []
        for future in futures:
            for res in future.result():
                record = self.estate if res.store == ESTATE else self.records[res.store]
                record["push"].append(res.as_dict())


def run_daily(args: DailyRequest) -> int:
    """The morning routine (``aftersales daily``): exit 0 when everything was delivered, 1 when
    anything failed.

    One run per output folder at a time (:func:`aftersales_kit.files.folder_lock`); the run
    record is written however the run ends (an error, Ctrl-C, a full disk), since it is the one
    place that says what was sent.
    """
    from aftersales_kit.files import folder_lock

    plan = _plan(args)
    with folder_lock(plan.out, error=DeliveryError, what="daily"):
        run = _Run()
        try:
            plan = _deliver_all(plan, run)
        except BaseException as exc:
            run.collect()
            _write_record(plan, run, error=_what_stopped(exc))
            raise
        run.collect()
        return _finish(plan, run)


def _what_stopped(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "已中断 (interrupted)"
    if isinstance(exc, OSError):
        from aftersales_kit.files import describe_os_error

        return describe_os_error(exc)
    return str(exc) or type(exc).__name__


def _deliver_all(plan: _Plan, run: _Run) -> _Plan:
    """Steps 1–4, filling ``run`` as they go; returns the plan with the report time and window
    the data fixed (DOMAIN §2 "Data as of")."""
    run.data = data = _diagnose_all(plan)
    clock = data.computed.clock
    plan = dataclasses.replace(plan, as_of=clock.as_of, window=clock.window)
    run.rendered = rendered = _render(plan, data=data)
    run.records, keys, jobs = _store_pushes(plan, data, rendered)
    estate_jobs, run.estate = _estate_pushes(plan, data, rendered)
    # 3 + 4. pushes start in their threads; mail goes out meanwhile
    run.futures = _push_all(
        [*jobs, *estate_jobs],
        log=_Log(plan.outbox / deliver.SENT_LOG),
        window=plan.window,
        settings=plan.push_settings,
        dry_run=plan.dry_run,
        resend=plan.resend,
        outbox=plan.outbox,
        stamp=datetime.now().strftime("%Y%m%d-%H%M%S"),
    )
    for target in plan.recipients.stores:
        run.records[target.store_id]["mail"] = _mail(plan, data, target, run.records, keys)
    return plan


def _plan(args: DailyRequest) -> _Plan:
    """Everything that can be wrong with the command, found before anything is rendered."""
    from aftersales_kit.config import load_config
    from aftersales_kit.deliver.smtp import configured_sender, smtp_settings
    from aftersales_kit.files import writable_dir
    from aftersales_kit.rules import load_rules
    from aftersales_kit.window import is_as_of_data, parse_as_of, parse_window

    config = args.config
    out = writable_dir(Path(args.out), error=DeliveryError).resolve()
    if args.data:
        paths = [Path(p).resolve() for p in args.data]
    else:
        from aftersales_kit.demo.simulate import ensure_demo

        paths = [ensure_demo().resolve()]
    recipients = deliver.read_recipients(
        recipients_path(args.recipients, data=paths), require_to=False
    )
    settings = push.push_settings()
    ruleset = load_rules(args.rules)
    # Provisional: the loaded data can move them (DOMAIN §2 "Data as of", _diagnose_all).
    as_of = parse_as_of(None if is_as_of_data(args.as_of) else args.as_of)
    window = parse_window(args.start, end=args.end, rules=ruleset, as_of=as_of)
    options: ReportOptions = {
        "skip_bad_rows": args.skip_bad_rows,
        "store_id": args.store_id,
    }
    smtp = None
    smtp_error = ""
    smtp_table = load_config(config).smtp
    # A dry run's .eml shows the sender a real run uses (when one is configured).
    sender = configured_sender(smtp_table)
    if any(t.to for t in recipients.stores) and not args.dry_run:
        try:
            smtp = smtp_settings(smtp_table)
        except DeliveryError as exc:
            smtp_error = str(exc)  # the mail fails; the pushes still go out
    return _Plan(
        args=args,
        config=config,
        out=out,
        paths=paths,
        recipients=recipients,
        push_settings=settings,
        ruleset=ruleset,
        as_of=as_of,
        window=window,
        options=options,
        deliver_only=args.deliver_only,
        smtp=smtp,
        smtp_error=smtp_error,
        sender=sender,
    )


def _diagnose_all(plan: _Plan) -> _Data:
    """1. load, validate, diagnose every store (the peers and the estate summary need them all),
    through the one pipeline the other commands use (``pipeline.diagnose_data``)."""
    from aftersales_kit.pipeline import diagnose_data
    from aftersales_kit.render import report as _report

    computed = diagnose_data(
        [str(p) for p in plan.paths],
        start=plan.args.start,
        end=plan.args.end,
        rules=plan.args.rules,
        as_of=plan.args.as_of,
        config=plan.config,
        cache_dir=plan.args.cache_dir,
        **plan.options,
    )
    report = computed.load_report
    assert report is not None  # paths, not a frame: the load report exists
    return _Data(computed, sorted(report.stores), _report.store_digests(computed.frame))


def _render(plan: _Plan, *, data: _Data) -> _Render:
    """2. render what is not current, then the index when anything changed.

    With --deliver-only the reports of sharded batch runs are taken as they are (the shards
    rendered them from the same estate pass).
    """
    args = plan.args
    index_path = plan.out / batch.INDEX_NAME
    if plan.deliver_only:
        return _Render(batch.BatchResult(), index_path, "")
    result = batch.run_batch(
        plan.paths,
        out_dir=plan.out,
        start=args.start,
        end=args.end,
        lang=plan.lang,
        rules=args.rules,
        as_of=args.as_of,
        workers=args.workers,
        config=plan.config,
        **plan.options,
        progress=sys.stderr.isatty(),
        index=False,
        # Step 1 loaded and diagnosed every store with the same inputs: no second pass.
        prepared=data.computed,
    )
    print(batch.summary_table(result), file=sys.stderr)
    index_error = ""
    if result.by_status("done") or not index_path.exists():
        try:
            index_path = batch.rebuild_index(
                plan.out,
                start=plan.window.start.isoformat(),
                end=plan.window.end.isoformat(),
                rules=args.rules,
                lang=plan.lang,
                config=plan.config,
            )
        except AftersalesError as exc:
            index_error = str(exc)
        except OSError as exc:  # a full disk: the deliveries still go out
            from aftersales_kit.files import describe_os_error

            index_error = describe_os_error(exc)
    return _Render(result, index_path, index_error)


def _store_pushes(
    plan: _Plan, data: _Data, rendered: _Render
) -> tuple[dict[str, StoreRecord], dict[str, str], list[PushJob]]:
    """Each store's record (its report or why there is none), fingerprint and push jobs."""
    records: dict[str, StoreRecord] = {}
    keys: dict[str, str] = {}
    jobs: list[PushJob] = []
    outcomes = {o.store: o for o in rendered.result.outcomes}
    for target in plan.recipients.stores:
        sid = target.store_id
        record: StoreRecord = {
            "name": target.name,
            "report": None,
            "mail": None,
            "push": [],
            "errors": [],
        }
        records[sid] = record
        d = data.diagnoses.get(sid)
        if d is None:
            record["errors"].append(
                "数据中没有这个店铺 (store not in the data); "
                f"数据中的店铺 (found): {', '.join(data.found[:20])}"
            )
            continue
        record["name"] = target.name or d.store_name
        html = _report_of(plan, sid, record, outcome=outcomes.get(sid))
        keys[sid] = key = _store_key(plan, d, rows=data.digests.get(sid, ""), html=html)
        url = None
        if record["report"]:
            relative = Path(os.path.relpath(html, plan.out)).as_posix()
            url = push.report_url(plan.recipients.report_base_url, relative)
        message = push.store_message(
            d, lang=plan.lang, store_name=target.name, report_url=url, horizon_hours=_horizon()
        )
        jobs += _jobs(sid, target, message, key)
    return records, keys, jobs


def _report_of(
    plan: _Plan, sid: str, record: StoreRecord, *, outcome: batch.Outcome | None
) -> Path:
    """The store's report path; ``record`` gets it when it exists, or the reason it does not."""
    from aftersales_kit.render import report as _report

    html = _report.report_path(plan.out, store=sid, window=plan.window)
    if outcome is not None and outcome.status == "failed":
        record["errors"].append(f"报告生成失败 (report failed): {outcome.reason.strip()[:300]}")
    elif html.exists():
        record["report"] = str(html)
    elif plan.deliver_only:
        record["errors"].append(
            f"报告不存在 (no report): {html}; 请先运行 aftersales batch (run the batch first)"
        )
    return html


def _store_key(plan: _Plan, d: Diagnosis, *, rows: str, html: Path) -> str:
    """The report's fingerprint; with --deliver-only the existing report's own (what was
    delivered is that report: its fingerprint names it in the sent-log)."""
    from aftersales_kit.render import report as _report

    args = plan.args
    params = deliver.report_params(
        d, data=plan.paths, rules=args.rules, lang=plan.lang, as_of=args.as_of, **plan.options
    )
    key = deliver.report_key(d, params=params, rows=rows, as_of_given=bool(args.as_of))
    if plan.deliver_only and html.exists():
        return str((_report.read_sidecar(html) or {}).get("fingerprint") or key)
    return key


def _jobs(sid: str, target: StoreRecipients, message: push.Message, key: str) -> list[PushJob]:
    """One job per bot of ``target`` (企业微信, 钉钉 with its signing secret)."""
    jobs = []
    for channel in push.CHANNELS:
        hook = getattr(target, channel)
        if hook:
            secret = target.dingtalk_secret if channel == "dingtalk" else None
            jobs.append(PushJob(sid, channel, hook, secret, message, key))
    return jobs


def _estate_pushes(
    plan: _Plan, data: _Data, rendered: _Render
) -> tuple[list[PushJob], EstateRecord]:
    """The estate summary's jobs (the ``[estate]`` bots) and its record."""
    estate = plan.recipients.estate
    record: EstateRecord = {"push": []}
    if estate is None or not (estate.wecom or estate.dingtalk):
        return [], record
    base = plan.recipients.report_base_url
    index_url = push.report_url(base, batch.INDEX_NAME) if rendered.index_path.exists() else None
    message = push.estate_message(
        list(data.diagnoses.values()),
        lang=plan.lang,
        names={t.store_id: t.name for t in plan.recipients.stores if t.name},
        index_url=index_url,
        horizon_hours=_horizon(),
    )
    key = _estate_key(plan.window, lang=plan.lang, digests=data.digests)
    return _jobs(ESTATE, estate, message, key), record


def _mail(
    plan: _Plan,
    data: _Data,
    target: StoreRecipients,
    records: dict[str, StoreRecord],
    keys: Mapping[str, str],
) -> MailEntry:
    """3. one store's mail (as ``email --all``) and its summary for the run record."""
    sid = target.store_id
    record = records[sid]
    d = data.diagnoses.get(sid)
    if d is None:
        # The store's own line says why (not in the data); this one must not be blank.
        detail = "没有这个店铺的诊断，未发送 (no diagnosis for this store: nothing sent)"
        return {"status": "failed" if target.to else "none", "recipients": [], "detail": detail}
    if not target.to:
        return {"status": "none", "recipients": []}
    if record["errors"] and record["report"] is None:
        return {"status": "failed", "recipients": [], "detail": record["errors"][-1]}
    if plan.smtp is None and not plan.dry_run:
        return {"status": "failed", "recipients": [], "detail": plan.smtp_error}
    args = plan.args
    try:
        # Current after step 2, so this finds the batch's report; it renders only if not.
        report_html, delivery = deliver.mail_store(
            d,
            target=target,
            out_dir=plan.out,
            data=plan.paths,
            rules=args.rules,
            lang=plan.lang,
            as_of=args.as_of,
            rows=data.digests.get(sid, ""),
            options=plan.options,
            settings=plan.smtp,
            dry_run=plan.dry_run,
            resend=plan.resend,
            zip_report=args.zip_report,
            report_html=Path(record["report"]) if plan.deliver_only and record["report"] else None,
            key=keys[sid],
            sender=plan.sender,
        )
    except AftersalesError as exc:
        # One store's broken report or refused message must not keep the others' mail back.
        return {"status": "failed", "recipients": [], "detail": str(exc)}
    except OSError as exc:  # a full disk while rendering or writing the .eml
        from aftersales_kit.files import describe_os_error

        return {"status": "failed", "recipients": [], "detail": describe_os_error(exc)}
    record["report"] = str(report_html)
    return _mail_summary(delivery)


def _finish(plan: _Plan, run: _Run) -> int:
    """5. write ``daily-<end>.json``, print the table and the failures; the exit code."""
    record, record_error = _write_record(plan, run)
    print(table(record))
    for line in failures(record):
        print(line, file=sys.stderr)
    if record_error:
        print(f"错误 (error): {record_error}", file=sys.stderr)
        return 1
    print(_record_path(plan))
    return 0 if record["ok"] else 1


def _record_path(plan: _Plan) -> Path:
    return plan.out / f"{RECORD_PREFIX}{plan.window.end.isoformat()}.json"


def _write_record(plan: _Plan, run: _Run, *, error: str = "") -> tuple[RunRecord, str]:
    """Build and write the run record; (the record, why it could not be written or "").

    ``error`` is what stopped the run early (the steps not reached have no entries). A record
    that cannot be written (a full disk) is said in one line on stderr when the run stopped
    early (the caller's error follows), else returned for :func:`_finish` to print.
    """
    from aftersales_kit.files import atomic_write, describe_os_error
    from aftersales_kit.render.batch import BatchResult

    rendered = run.rendered or _Render(BatchResult(), plan.out / batch.INDEX_NAME, "")
    result, index_path = rendered.result, rendered.index_path
    records, estate_record = run.records, run.estate
    failed_renders = [o for o in result.failed if o.store not in records]
    ok = not error and not rendered.index_error and not failed_renders
    ok = ok and all(_store_ok(r) for r in records.values())
    ok = ok and all(_push_ok(p) for p in estate_record["push"])
    window = plan.window
    record: RunRecord = {
        "date": window.end.isoformat(),
        "run_at": datetime.now().isoformat(timespec="seconds"),
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        "as_of": plan.as_of.isoformat(sep=" "),
        "dry_run": plan.dry_run,
        "deliver_only": plan.deliver_only,
        "ok": ok,
        "error": error or None,
        "data": [str(p) for p in plan.paths],
        "data_quality": run.data.report.as_json() if run.data is not None else None,
        "render": {
            "done": len(result.by_status("done")),
            "skipped": len(result.by_status("skipped")),
            "failed": [{"store": o.store, "reason": o.reason} for o in result.failed],
        },
        "index": str(index_path) if index_path.exists() else None,
        "index_error": rendered.index_error or None,
        "stores": records,
        "estate": estate_record,
        "stores_without_orders": sorted(
            sid for sid, d in (run.data.diagnoses if run.data else {}).items() if not d.kpis.counted
        ),
    }
    path = _record_path(plan)
    try:
        atomic_write(path, data=json.dumps(record, ensure_ascii=False, indent=1, default=str))
    except OSError as exc:
        why = f"运行记录无法写入 (run record not written): {path}: {describe_os_error(exc)}"
        if error:
            print(f"错误 (error): {why}", file=sys.stderr)
        return record, why
    return record, ""


def _push_ok(p: push.PushEntry) -> bool:
    return p["status"] not in ("failed", "unknown") and not p.get("log_error")


def _store_ok(record: StoreRecord) -> bool:
    mail: MailEntry = record["mail"] or NO_MAIL
    return (
        not record.get("errors")
        and mail.get("status") not in ("failed", "unknown")
        and not mail.get("log_error")
        and all(_push_ok(p) for p in record.get("push", []))
    )


# --- output ---------------------------------------------------------------------------------------

_STATUS = {
    "sent": "已发送 (sent)",
    "skipped": "已发过 (skipped)",
    "failed": "失败 (failed)",
    "dry_run": "已写入 (dry run)",
    "unknown": "未确认 (unknown)",
    "none": "—",
}


def _push_cell(pushes: Sequence[push.PushEntry], channel: str) -> str:
    states = [p["status"] for p in pushes if p["channel"] == channel]
    if not states:
        return "—"
    worst = next((w for w in ("failed", "unknown") if w in states), states[0])
    return _STATUS.get(worst, worst)


def table(run: RunRecord) -> str:
    """The printed table: one line per store of the recipients file, then the estate line."""
    header = ("店铺 (store)", "报告 (report)", "邮件 (mail)", "企业微信 (WeCom)", "钉钉 (DingTalk)")
    rows = [header]
    for sid, rec in run["stores"].items():
        report = "✓" if rec.get("report") else "✗"
        mail = _STATUS.get((rec["mail"] or NO_MAIL)["status"], "?")
        rows.append(
            (
                fmt.visible(f"{sid} {rec.get('name') or ''}").strip(),
                report,
                mail,
                _push_cell(rec["push"], "wecom"),
                _push_cell(rec["push"], "dingtalk"),
            )
        )
    estate = run["estate"]["push"]
    if estate:
        rows.append(
            (
                "全部店铺 (estate)",
                "—",
                "—",
                _push_cell(estate, "wecom"),
                _push_cell(estate, "dingtalk"),
            )
        )
    widths = [max(_width(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(_pad(cell, w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    render = run["render"]
    verdict = "全部送达 (all delivered)" if run["ok"] else "有失败 (something failed)"
    empty = run.get("stores_without_orders") or []
    if run["ok"] and empty:
        # "All delivered" next to pushes saying nothing is overdue would read as all clear.
        verdict = (
            f"已送达，但 {len(empty)} 家店铺本周期没有计入的服务单，请确认数据是否最新 "
            f"(delivered, but {len(empty)} stores have no counted orders: is the data current?)"
        )
    lines.append(
        f"{run['date']}: 报告 新生成 (rendered) {render['done']} · 已是最新 (up to date) "
        f"{render['skipped']} · 失败 (failed) {len(render['failed'])} — {verdict}"
    )
    return "\n".join(lines)


def failures(run: RunRecord) -> list[str]:
    """One line per failure: store, what, and the server's or the bot's words."""
    lines = []
    for fail in run["render"]["failed"]:
        lines.append(
            f"店铺 (store) {fail['store']} 报告失败 (report failed): {fail['reason'].strip()[:300]}"
        )
    if run.get("index_error"):
        lines.append(f"总览失败 (index failed): {run['index_error']}")
    for sid, rec in run["stores"].items():
        lines.extend(f"店铺 (store) {sid}: {e}" for e in rec.get("errors", []))
        mail: MailEntry = rec["mail"] or NO_MAIL
        if mail["status"] in ("failed", "unknown"):
            bad = [
                " ".join(
                    str(v)
                    for v in (r["recipient"], r["status"], r.get("code"), r.get("detail"))
                    if v
                )
                for r in mail.get("recipients", [])
                if r["status"] in ("failed", "unknown")
            ]
            detail = "; ".join(bad) or mail.get("detail", "")
            what = (
                "邮件失败 (mail failed)"
                if mail["status"] == "failed"
                else "邮件未确认 (mail unconfirmed)"
            )
            lines.append(f"店铺 (store) {sid} {what}: {detail}")
        if mail.get("log_error"):
            lines.append(f"店铺 (store) {sid} 邮件 (mail): {mail['log_error']}")
        lines.extend(_describe(p) for p in rec.get("push", []) if not _push_ok(p))
    lines.extend(_describe(p) for p in run["estate"]["push"] if not _push_ok(p))
    return lines


def _describe(p: push.PushEntry) -> str:
    return push.PushResult(**p).describe()


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
