"""The report commands: ``report`` (one store), ``render`` (an executed notebook) and ``batch``
(every store and the index).

The handlers turn the parsed options into the notebook's parameters and typed calls of
:mod:`aftersales_kit.render.report` and :mod:`aftersales_kit.render.batch`; every line printed
is here.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import Any

from aftersales_kit.cli import loader_options
from aftersales_kit.demo.simulate import ensure_demo
from aftersales_kit.errors import UsageError
from aftersales_kit.render import batch, report
from aftersales_kit.render.report import DEMO_STORE, ReportParams


def params_from_args(args: argparse.Namespace, **overrides: Any) -> ReportParams:
    """The notebook parameters of a ``report``/``batch``/``email`` command line.

    The one mapping from options to parameters: every option that changes the page lands in a
    parameter of the notebook's parameters cell (``tests/test_report_params.py`` walks them).
    """

    def given(name: str, missing: float) -> float:
        value = getattr(args, name, None)
        return missing if value is None else float(value)

    values: dict[str, Any] = {
        "store": getattr(args, "store", None) or DEMO_STORE,
        "start": getattr(args, "start", None) or "",
        "end": getattr(args, "end", None) or "",
        "data": tuple(getattr(args, "data", None) or ()),
        "rules": getattr(args, "rules", None) or "",
        "lang": getattr(args, "lang", None) or "zh",
        "as_of": getattr(args, "as_of", None) or "",
        "target_hours": given("target_hours", 0.0),
        "star": given("star", 0.0),
        "aftersales_rank": given("aftersales_rank", -1.0),
        "dispute_rank": given("dispute_rank", -1.0),
        "skip_bad_rows": bool(getattr(args, "skip_bad_rows", False)),
        "store_id": getattr(args, "store_id", None) or "",
        "published_hours": given("published_hours", 0.0),
    }
    values.update(overrides)
    return ReportParams(**values)


def command_report(args: argparse.Namespace) -> int:
    """``aftersales report [DATA...] --store ID …``: render and print the HTML path."""
    params = params_from_args(args)
    path = report.render_store(
        params,
        out_dir=Path(args.out),
        config=args.config,
        on_notice=lambda line: print(line, file=sys.stderr, flush=True),
        cache_dir=loader_options(args)["cache_dir"],
    )
    print(path, flush=True)
    # The command ends here: interpreter shutdown would otherwise garbage-collect every object of
    # ~1 300 modules (polars, nbconvert, papermill …), about 0.3 s of the merchant's wait.
    gc.freeze()
    return 0


def command_batch(args: argparse.Namespace) -> int:
    """``aftersales batch [DATA...] [--stores a,b] [--workers n] [--shard K/N] [--force] …``."""
    config = args.config
    if args.workers is not None and args.workers < 1:
        msg = f"--workers 必须 ≥ 1 (must be at least 1): {args.workers}"
        raise UsageError(msg)
    if args.index_only:
        index = batch.rebuild_index(
            Path(args.out),
            start=args.start,
            end=args.end,
            rules=args.rules,
            as_of=args.as_of,
            lang=args.lang,
            config=config,
        )
        print(index)
        return 0
    paths = list(args.data) or [ensure_demo()]
    stores = args.stores if isinstance(args.stores, list) or args.stores is None else None
    if isinstance(args.stores, str):
        stores = [s for s in args.stores.split(",") if s.strip()]
    result = batch.run_batch(
        paths,
        out_dir=Path(args.out),
        stores=stores,
        shard=batch.parse_shard(args.shard),
        start=args.start,
        end=args.end,
        lang=args.lang,
        rules=args.rules,
        as_of=args.as_of,
        workers=args.workers,
        force=args.force,
        **loader_options(args),
    )
    print(batch.summary_table(result), file=sys.stderr)
    if result.index is not None:
        print(result.index)
    return 1 if result.failed else 0


def command_render(args: argparse.Namespace) -> int:
    """``aftersales render NOTEBOOK [--out x.html]``: print the HTML path."""
    print(report.render_executed(args.notebook, out=args.out), flush=True)
    return 0
