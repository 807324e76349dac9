"""The ``aftersales`` command line (also ``python -m aftersales_kit``).

The command-line layer: the only place that reads argv, the environment's configuration variable
and the working directory. Each subcommand's handler lives in a module of this package and is
imported only when that command runs, so ``aftersales validate`` does not pay for altair or
jupyter imports; the handlers call the step modules with typed arguments.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from aftersales_kit import parse_cache
from aftersales_kit._version import __version__
from aftersales_kit.errors import AftersalesError
from aftersales_kit.host import default_config_path


class LoaderOptions(TypedDict):
    """The options every command that reads downloads passes on to the loader."""

    store_id: str | None
    skip_bad_rows: bool
    config: str | None
    cache_dir: Path | None


def loader_options(args: argparse.Namespace) -> LoaderOptions:
    """``--store-id``, ``--skip-bad-rows``, the configuration file and the parse cache folder
    that :func:`main` resolved (none for options built by hand)."""
    return LoaderOptions(
        store_id=args.store_id,
        skip_bad_rows=args.skip_bad_rows,
        config=args.config,
        cache_dir=getattr(args, "cache_dir", None),
    )


#: subcommand -> "module:function"; the function takes the parsed args and returns an exit code.
HANDLERS: dict[str, str] = {
    "validate": "aftersales_kit.cli.data:command_validate",
    "demo": "aftersales_kit.cli.data:command_demo",
    "metrics": "aftersales_kit.cli.data:command_metrics",
    "actions": "aftersales_kit.cli.data:command_actions",
    "report": "aftersales_kit.cli.render:command_report",
    "render": "aftersales_kit.cli.render:command_render",
    "batch": "aftersales_kit.cli.render:command_batch",
    "email": "aftersales_kit.cli.deliver:command_email",
    "daily": "aftersales_kit.cli.deliver:command_daily",
}


#: JD's data and this toolkit's holiday tables cover this century; a year outside it is a typo
#: (and 9999-12-31 + 1 day would overflow the date type deep inside the window arithmetic).
YEARS = range(2000, 2100)


def _check_year(value: date, text: str, option: str) -> None:
    if value.year not in YEARS:
        msg = (
            f"{option}: 年份须在 {YEARS.start}–{YEARS.stop - 1} 之间 "
            f"(year must be {YEARS.start}–{YEARS.stop - 1}): {text!r}"
        )
        raise argparse.ArgumentTypeError(msg)


def day_arg(text: str) -> str:
    """``YYYY-MM-DD`` within :data:`YEARS`, kept as text (the step modules parse it again)."""
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        msg = f"不是有效日期 (not a valid date): {text!r}; 格式 (format) YYYY-MM-DD"
        raise argparse.ArgumentTypeError(msg) from None
    _check_year(value, text, "date")
    return text


def moment_arg(text: str) -> str:
    """``YYYY-MM-DD[ HH:MM[:SS]]`` within :data:`YEARS`, or ``data`` (as of the data's latest
    timestamp), kept as text."""
    if text.strip().casefold() == "data":
        return "data"
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        msg = f"不是有效时间 (not a valid date-time): {text!r}; 格式 (format) YYYY-MM-DD HH:MM:SS"
        raise argparse.ArgumentTypeError(msg) from None
    _check_year(value.date(), text, "--as-of")
    return text


def store_arg(text: str) -> str:
    """A store id: not empty (``--store ""`` is a typo, not "the default store")."""
    value = text.strip()
    if not value:
        msg = "店铺ID不能为空 (store id must not be empty)"
        raise argparse.ArgumentTypeError(msg)
    return value


def stores_arg(text: str) -> list[str]:
    """Comma-separated store ids, at least one (``--stores ","`` selects nothing: a typo)."""
    ids = [s.strip() for s in text.split(",") if s.strip()]
    if not ids:
        msg = (
            f"--stores 中没有店铺ID (no store ids in --stores): {text!r}; "
            "例如 (e.g.) 1000101,1000102"
        )
        raise argparse.ArgumentTypeError(msg)
    return ids


def _number(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        msg = f"{option}: 不是有限的数字 (not a finite number): {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def positive_hours(text: str) -> float:
    """``--target-hours``: a finite number of hours above 0 (a target of −5 h or ∞ is a typo)."""
    value = _number(text, "--target-hours")
    if value <= 0:
        msg = f"--target-hours: 必须大于 0 (must be above 0): {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _between(text: str, option: str, low: float, high: float, words: str) -> float:
    value = _number(text, option)
    if not low <= value <= high:
        msg = f"{option}: {words}: {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def hours_arg(text: str) -> float:
    """``--published-hours``: a finite number of hours, 0 or more."""
    return _between(text, "--published-hours", 0, math.inf, "不能为负 (must not be negative)")


def star_arg(text: str) -> float:
    """``--star``: 风向标 stars, 0–5."""
    return _between(text, "--star", 0, 5, "必须在 0–5 之间 (must be 0–5)")


def rate_arg(text: str) -> float:
    """A rank rate, 0–1."""
    return _between(text, "rank", 0, 1, "必须在 0–1 之间 (a rank rate must be 0–1)")


def rules_arg(text: str) -> str:
    """``--rules``: an existing file (a missing one is a typo on the command line: exit 2)."""
    if not Path(text).is_file():
        msg = f"规则文件不存在 (rules file not found): {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return text


def _store_id_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store-id",
        dest="store_id",
        type=store_arg,
        help="store id for files without a store column",
    )


if TYPE_CHECKING:
    #: The object add_subparsers() returns (argparse names it privately; generic only in stubs).
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _data_args(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument(
        "data",
        nargs="+" if required else "*",
        metavar="DATA",
        help="JD export files (.xlsx/.csv/.parquet) or folders of them",
    )
    p.add_argument("--config", help="configuration file (default ./aftersales.toml)")
    p.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="drop rows with bad values (counted in the load report) instead of failing",
    )
    _store_id_arg(p)


def _window_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--start", type=day_arg, help="window start date YYYY-MM-DD (default end − 29 days)"
    )
    p.add_argument("--end", type=day_arg, help="window end date YYYY-MM-DD (default yesterday)")
    p.add_argument(
        "--rules", type=rules_arg, help="rules TOML overriding thresholds, holidays, windows"
    )
    p.add_argument(
        "--as-of",
        dest="as_of",
        type=moment_arg,
        help="report time for open orders: YYYY-MM-DD[ HH:MM[:SS]] or 'data' (the data's latest "
        "timestamp); default now, or the data's time when the download is more than 48 h old",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aftersales",
        description="京东售后服务时长诊断 — JD after-sales service duration diagnosis",
    )
    parser.add_argument("--version", action="version", version=f"aftersales-kit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _validate_command,
        _demo_command,
        _metrics_command,
        _actions_command,
        _report_command,
        _render_command,
        _batch_command,
        _email_command,
        _daily_command,
    ):
        add(sub)
    return parser


def _validate_command(sub: Subparsers) -> None:
    p = sub.add_parser("validate", help="check JD export files and summarise them")
    _data_args(p, required=True)
    p.add_argument("--json", action="store_true", help="print the load report as JSON")


def _demo_command(sub: Subparsers) -> None:
    p = sub.add_parser("demo", help="write a realistic demo data set")
    p.add_argument("--stores", type=int, default=12)
    p.add_argument("--orders", type=int, default=3000, help="service orders per store")
    p.add_argument("--end", type=day_arg, help="last day of data YYYY-MM-DD (default yesterday)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default="data/demo")
    p.add_argument("--dirty", action="store_true", help="add typical export problems")


def _metrics_command(sub: Subparsers) -> None:
    p = sub.add_parser("metrics", help="compute a store's metrics for a window")
    _data_args(p, required=True)
    p.add_argument("--store", required=True, type=store_arg, help="store id")
    _window_args(p)
    p.add_argument("--json", action="store_true", help="print the DOMAIN §7 JSON object")


def _actions_command(sub: Subparsers) -> None:
    p = sub.add_parser(
        "actions", help="every open service order with its team, rule, hours left and next action"
    )
    _data_args(p, required=True)
    p.add_argument("--store", required=True, type=store_arg, help="store id")
    p.add_argument("--rules", help="rules TOML overriding thresholds, holidays, windows")
    p.add_argument(
        "--as-of", dest="as_of", type=moment_arg, help="report time for open orders (default now)"
    )
    p.add_argument("--lang", choices=("zh", "en"), default="zh")
    p.add_argument("--json", action="store_true", help="print the DOMAIN §7 open-orders JSON")


def _report_command(sub: Subparsers) -> None:
    p = sub.add_parser("report", help="render one store's HTML diagnosis report")
    _data_args(p, required=False)
    p.add_argument("--store", type=store_arg, help="store id (default: the first demo store)")
    _window_args(p)
    p.add_argument("--lang", choices=("zh", "en"), default="zh")
    p.add_argument("--out", default="reports", help="reports folder")
    p.add_argument("--target-hours", dest="target_hours", type=positive_hours)
    p.add_argument("--star", type=star_arg, help="observed store star (风向标)")
    p.add_argument(
        "--aftersales-rank",
        dest="aftersales_rank",
        type=rate_arg,
        help="observed after-sales star rank rate, 0–1",
    )
    p.add_argument(
        "--dispute-rank",
        dest="dispute_rank",
        type=rate_arg,
        help="observed dispute star rank rate, 0–1",
    )
    p.add_argument(
        "--published-hours",
        dest="published_hours",
        type=hours_arg,
        help="the 售后服务时长 风向标 shows today, to reconcile with ours",
    )


def _render_command(sub: Subparsers) -> None:
    p = sub.add_parser(
        "render", help="render an executed store notebook as the report page (no code cells)"
    )
    p.add_argument("notebook", help="an executed store_report notebook (.ipynb)")
    p.add_argument("--out", help="HTML file (default: the notebook's path with .html)")


def _batch_command(sub: Subparsers) -> None:
    p = sub.add_parser("batch", help="render every store's report and the portfolio index")
    _data_args(p, required=False)
    p.add_argument("--stores", type=stores_arg, help="comma-separated store ids (default all)")
    _window_args(p)
    p.add_argument("--lang", choices=("zh", "en"), default="zh")
    p.add_argument("--out", default="reports", help="reports folder")
    p.add_argument("--workers", type=int, help="parallel workers (default: core count)")
    p.add_argument("--shard", help="K/N: run only the K-th of N stable shards (1-based)")
    p.add_argument("--force", action="store_true", help="re-render up-to-date reports")
    p.add_argument(
        "--index-only",
        dest="index_only",
        action="store_true",
        help="only rebuild reports/index.html from the reports already there (after sharded runs)",
    )


def _email_command(sub: Subparsers) -> None:
    p = sub.add_parser("email", help="email store diagnoses (or write .eml with --dry-run)")
    _data_args(p, required=False)
    p.add_argument("--store", type=store_arg, help="store id")
    p.add_argument("--to", action="append", help="recipient address (repeatable)")
    p.add_argument("--all", action="store_true", help="every store in the recipients file")
    p.add_argument("--recipients", default="stores.toml", help="recipients file for --all")
    _window_args(p)
    p.add_argument("--lang", choices=("zh", "en"), default="zh")
    p.add_argument("--out", default="reports", help="reports folder")
    p.add_argument(
        "--dry-run",
        dest="dry_run",
        action="store_true",
        help="write .eml files to reports/outbox/ instead of sending",
    )
    p.add_argument(
        "--resend",
        action="store_true",
        help="send even if the sent-log has it (also sends what is logged unknown or pending)",
    )
    p.add_argument(
        "--zip-report",
        dest="zip_report",
        action="store_true",
        help="attach the HTML report zipped (for mail gateways that block .html attachments)",
    )


def _daily_command(sub: Subparsers) -> None:
    p = sub.add_parser(
        "daily", help="the morning routine: render, mail and push to 企业微信/钉钉 (idempotent)"
    )
    _data_args(p, required=False)
    p.add_argument(
        "--recipients",
        help="recipients file (default ./stores.toml, else the data folder's stores.toml)",
    )
    _window_args(p)
    p.add_argument("--lang", choices=("zh", "en"), default="zh")
    p.add_argument("--out", default="reports", help="reports folder")
    p.add_argument("--workers", type=int, help="parallel report workers (default: core count)")
    p.add_argument(
        "--dry-run",
        dest="dry_run",
        action="store_true",
        help="write mails (.eml) and push payloads (.json) to reports/outbox/ instead of sending",
    )
    p.add_argument(
        "--deliver-only",
        dest="deliver_only",
        action="store_true",
        help="render nothing: deliver the reports already in --out (after sharded batch runs)",
    )
    p.add_argument(
        "--resend",
        action="store_true",
        help="mail and push even what the sent-log has (sent, unknown or pending)",
    )
    p.add_argument(
        "--zip-report",
        dest="zip_report",
        action="store_true",
        help="attach the HTML report zipped (for mail gateways that block .html attachments)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand: exit 0 (ok), 1 (data, report or delivery error), 2 (usage), with one
    clear line on stderr and never a traceback for what the toolkit can name."""
    args = build_parser().parse_args(argv)
    module_name, func_name = HANDLERS[args.command].split(":")
    try:
        if "config" in vars(args):
            # resolved once, here: below this layer nothing reads the environment or the cwd
            found = default_config_path(args.config, env=os.environ, cwd=Path.cwd())
            args.config = None if found is None else str(found)
            # Downloads parsed by an earlier run are reused (aftersales_kit.parse_cache).
            args.cache_dir = parse_cache.default_dir(os.environ, home=Path.home())
        if args.command == "report":
            # The kernel boots (its longest step) while the report's modules are imported.
            from aftersales_kit.render import engine

            engine.start_early(config=args.config)
        handler = getattr(importlib.import_module(module_name), func_name)
        code = int(handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except AftersalesError as exc:
        print(f"错误 (error): {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("已中断 (interrupted)", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `aftersales … | head`: the reader has gone; say so once on stderr, and keep the
        # interpreter's final flush of stdout from printing a traceback of its own.
        _silence_stdout()
        print(
            "输出管道已关闭，其余输出未显示 (output pipe closed: rest not shown)", file=sys.stderr
        )
        return 1
    except OSError as exc:
        # A full disk, a vanished folder: named in one line (the step modules name theirs).
        from aftersales_kit.files import describe_os_error

        print(f"错误 (error): {describe_os_error(exc)}", file=sys.stderr)
        return 1


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
