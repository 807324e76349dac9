"""The delivery commands: ``email`` (one store, or every store of a recipients file) and ``daily``
(the morning routine).

The handlers resolve the run's stores and settings from the arguments and call
:mod:`aftersales_kit.deliver.mail` with typed values; every line printed is here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from aftersales_kit.cli import loader_options
from aftersales_kit.config import load_config
from aftersales_kit.deliver.daily import DailyRequest, run_daily
from aftersales_kit.deliver.mail import (
    Delivery,
    ReportOptions,
    StoreRecipients,
    load_recipients,
    mail_store,
)
from aftersales_kit.deliver.smtp import SmtpSettings, configured_sender, smtp_settings
from aftersales_kit.demo.simulate import ensure_demo
from aftersales_kit.errors import DeliveryError, ReportError, UsageError
from aftersales_kit.files import describe_os_error, folder_lock, writable_dir
from aftersales_kit.model import Diagnosis
from aftersales_kit.pipeline import diagnose_data
from aftersales_kit.render.report import store_digests


def _diagnoses(
    args: argparse.Namespace, store_ids: Sequence[str]
) -> tuple[dict[str, Diagnosis], list[Path], dict[str, str]]:
    """The stores' diagnoses through the one pipeline (``pipeline.diagnose_data``), every store of
    the data loaded (the peer median compares with the others), plus the paths and row digests."""
    if args.data:
        paths = [Path(p).resolve() for p in args.data]
    else:
        paths = [ensure_demo().resolve()]
    computed = diagnose_data(
        [str(p) for p in paths],
        stores=list(store_ids),
        start=args.start,
        end=args.end,
        rules=args.rules,
        as_of=args.as_of,
        **loader_options(args),
    )
    return dict(computed.diagnoses), paths, store_digests(computed.frame)


def _email_targets(args: argparse.Namespace) -> list[StoreRecipients]:
    """``--all``: every store of the recipients file; else the one ``--store`` with ``--to``."""
    if args.all:
        if args.store or args.to:
            msg = "--all 不能与 --store/--to 同用 (use either --all or --store with --to)"
            raise UsageError(msg)
        return load_recipients(args.recipients)
    if not args.store or not args.to:
        msg = "需要 --store 和 --to，或使用 --all (pass --store ID --to ADDR, or --all)"
        raise UsageError(msg)
    return [StoreRecipients(args.store, tuple(args.to))]


def _email_settings(args: argparse.Namespace) -> tuple[SmtpSettings | None, str | None]:
    """The SMTP settings and the sender; a dry run needs no server, but its .eml shows the
    configured sender when there is one (the preview is the mail a real run sends)."""
    table = load_config(args.config).smtp
    try:
        settings = smtp_settings(table)
    except DeliveryError:
        if not args.dry_run:
            raise
        return None, configured_sender(table)
    return settings, settings.sender


def _print_delivery(store_id: str, outcome: Delivery) -> None:
    if outcome.eml is not None:
        print(outcome.eml)
    for r in outcome.results:
        code = "" if r.code is None else f" {r.code}"
        detail = f" {r.detail}" if r.detail else ""
        print(f"{store_id}\t{r.recipient}\t{r.status}{code}{detail}")
    if outcome.log_error:
        print(f"{store_id}\t-\t{outcome.log_error}", file=sys.stderr)


def command_email(args: argparse.Namespace) -> int:
    """``aftersales email``: one store (--store, --to) or every store of a recipients file.

    One run per output folder at a time (its sent-log), as ``daily``."""
    targets = _email_targets(args)
    settings, sender = _email_settings(args)
    out_dir = writable_dir(Path(args.out), error=DeliveryError)
    with folder_lock(out_dir, error=DeliveryError, what="email"):
        return _email_all(args, targets, out_dir=out_dir, settings=settings, sender=sender)


def _email_all(
    args: argparse.Namespace,
    targets: Sequence[StoreRecipients],
    *,
    out_dir: Path,
    settings: SmtpSettings | None,
    sender: str | None,
) -> int:
    diagnoses, data, digests = _diagnoses(args, [t.store_id for t in targets])
    options: ReportOptions = {
        "skip_bad_rows": args.skip_bad_rows,
        "store_id": args.store_id,
    }
    failed = False
    for target in targets:
        try:
            _, outcome = mail_store(
                diagnoses[target.store_id],
                target=target,
                out_dir=out_dir,
                data=data,
                rules=args.rules,
                lang=args.lang,
                as_of=args.as_of,
                rows=digests.get(target.store_id, ""),
                options=options,
                settings=settings,
                dry_run=args.dry_run,
                resend=args.resend,
                zip_report=args.zip_report,
                sender=sender,
            )
        except (ReportError, DeliveryError) as exc:
            # One store's broken report or refused message must not keep the others' mail back.
            print(f"{target.store_id}\t-\tfailed {exc}", file=sys.stderr)
            failed = True
            continue
        except OSError as exc:  # a full disk while rendering or writing the .eml
            print(f"{target.store_id}\t-\tfailed {describe_os_error(exc)}", file=sys.stderr)
            failed = True
            continue
        _print_delivery(target.store_id, outcome)
        failed = failed or not outcome.ok
    if failed:
        print(
            "部分收件人发送失败或状态未知 (some recipients failed or are unknown)", file=sys.stderr
        )
    return 1 if failed else 0


def command_daily(args: argparse.Namespace) -> int:
    """``aftersales daily [DATA...] [--recipients stores.toml] [--end D] [--out reports]
    [--dry-run] [--resend]``."""
    return run_daily(
        DailyRequest(
            data=tuple(args.data),
            recipients=args.recipients,
            start=args.start,
            end=args.end,
            rules=args.rules,
            as_of=args.as_of,
            lang=args.lang,
            out=args.out,
            workers=args.workers,
            dry_run=args.dry_run,
            deliver_only=args.deliver_only,
            resend=args.resend,
            zip_report=args.zip_report,
            **loader_options(args),
        )
    )
