"""The data commands: ``validate``, ``metrics``, ``actions`` and ``demo``.

Each handler turns the parsed arguments into typed calls of the step modules and prints what
they return; nothing here computes a figure.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aftersales_kit import format as fmt
from aftersales_kit.actions import actions_json, actions_text
from aftersales_kit.cli import loader_options
from aftersales_kit.demo.simulate import write_demo
from aftersales_kit.load import load_unchecked, summary_text
from aftersales_kit.metrics import JdCheckJson, MetricsJson, metrics_json, open_summary
from aftersales_kit.pipeline import diagnose_data, resolve_inputs
from aftersales_kit.text import both, t
from aftersales_kit.views import readings_json


def command_validate(args: argparse.Namespace) -> int:
    """``aftersales validate DATA... [--store-id ID] [--json]``: 0 without errors, 1 with errors."""
    loaded = load_unchecked(args.data, **loader_options(args))
    report = loaded.report
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        print(summary_text(report))
    return 1 if report.errors else 0


def command_metrics(args: argparse.Namespace) -> int:
    """``aftersales metrics DATA... --store ID [--start D] [--end D] [--rules F] [--as-of T]``.

    Prints the DOMAIN §7 object (plus ``open``: open orders as of ``--as-of``) or a summary.
    """
    inputs = resolve_inputs(
        args.data,
        stores=[args.store],
        start=args.start,
        end=args.end,
        rules=args.rules,
        as_of=args.as_of,
        **loader_options(args),
    )
    frame, rules, window = inputs.frame, inputs.rules, inputs.window
    result = metrics_json(frame, store_id=args.store, window=window, rules=rules)
    result["as_of"] = inputs.as_of.isoformat(sep=" ")
    report = inputs.load_report
    data_as_of = None if report is None else report.data_as_of.get(args.store)
    result["data_as_of"] = None if data_as_of is None else data_as_of.isoformat(sep=" ")
    result["open"] = open_summary(frame, store_id=args.store, as_of=inputs.as_of, rules=rules)
    readings, repair = readings_json(frame, store_id=args.store, window=window, rules=rules)
    result["jd_check"]["readings"] = readings
    result["jd_check"]["repair"] = repair
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(metrics_summary(result))
    return 0


def command_actions(args: argparse.Namespace) -> int:
    """``aftersales actions DATA... --store ID [--as-of T] [--rules F] [--json]``."""
    computed = diagnose_data(
        args.data,
        stores=[args.store],
        rules=args.rules,
        as_of=args.as_of,
        **loader_options(args),
    )
    d = computed.diagnoses[args.store]
    if args.json:
        print(json.dumps(actions_json(d, lang=args.lang), ensure_ascii=False))
    else:
        print(actions_text(d, lang=args.lang))
    return 0


def command_demo(args: argparse.Namespace) -> int:
    """``aftersales demo``: write the demo data set and print the paths written."""
    files = write_demo(
        Path(args.out),
        stores=args.stores,
        orders=args.orders,
        end=args.end,
        seed=args.seed,
        dirty=args.dirty,
    )
    kind = "含导出问题的 (dirty) " if args.dirty else ""
    print(
        f"已生成{kind}演示数据 (demo data written): {len(files.stores)} 家店铺 (stores), "
        f"{files.rows:,} 条服务单 (service orders) → {files.out}"
    )
    print(f"京麦导出 (JD exports, pass this folder as data): {files.exports}")
    for path in files.paths:
        print(f"  {path}")
    return 0


def _label(key: str) -> str:
    """An excluded reason or stage in both languages (the string catalog's ``cli`` labels)."""
    return both("cli", key, form="{zh} {en}")


def metrics_summary(result: MetricsJson) -> str:
    """A readable bilingual summary of a §7 object (the ``aftersales metrics`` default output)."""
    lines = [
        f"店铺 (store) {result['store_id']}  窗口 (window) {result['start']} – {result['end']}",
        f"计入单量 (counted): {result['counted']}",
        f"平均时长 (mean): {fmt.hours(result['mean_hours'])}    "
        f"中位数 (median): {fmt.hours(result['median_hours'])}    "
        f"P90: {fmt.hours(result['p90_hours'])}",
        f"超60小时占比 (share over 60 h): {fmt.pct(result['over_60h_share'])}",
        "剔除 (excluded): " + ", ".join(f"{_label(k)} {v}" for k, v in result["excluded"].items()),
        "阶段均值 (stage means):",
    ]
    for key, value in result["stages"].items():
        sign = "−" if key == "intervention" and value else ""
        lines.append(f"  {_label(key)}: {sign}{fmt.hours(value)}")
    lines.append("场景 (scenes):")
    for scene, stats in result["scenes"].items():
        lines.append(f"  {scene}: {stats['count']} 单 (orders), {fmt.hours(stats['mean_hours'])}")
    lines.append("预警单 (alerts):")
    for rule, count in result["alerts"].items():
        shown = "需要物流数据 (unavailable: needs logistics data)" if count is None else count
        lines.append(f"  {rule}: {shown}")
    jd = result["jd_check"]
    if jd["compared"]:
        lines.append(
            f"京东售后整体时长核对 (JD per-order hours check): "
            f"{jd['matched']}/{jd['compared']} 一致 (matched), "
            f"京东均值 (JD mean) {fmt.hours(jd['mean_jd_hours'])}, "
            f"最大差 (max diff) {fmt.hours(jd['max_abs_diff_hours'])}"
        )
        lines.extend(_readings_lines(jd))
    if (open_ := result.get("open")) is not None:
        lines.append(
            f"未完结单 (open orders, as of {open_['as_of']}): {open_['count']}, "
            f"已超时 (already breaching a rule): {open_['breached']}"
        )
    return "\n".join(lines)


def _readings_lines(jd: JdCheckJson) -> list[str]:
    """The readings check in the summary: each reading that explains JD's hours for some of a
    scene's differing orders, with the rules-file lines that adopt it."""
    lines: list[str] = []
    for r in jd.get("readings", []):
        if not r["explained"]:
            continue
        reading = f"views.reading.{r['reading']}"
        lines.append(
            f"  口径检验 (readings check) {r['scene']}: {r['explained']}/{r['mismatched']} "
            f"与京东一致 (match JD) — {t(reading, 'zh')} ({t(reading, 'en')})"
        )
        rule = r["rule_lines"]
        if isinstance(rule, str):
            lines.append("    规则文件 [[scenes]] 加入 (add to the rules file's [[scenes]]):")
            lines.extend(f"      {line}" for line in rule.splitlines())
        else:
            lines.append("    规则文件无法表达 (a rules file cannot express it)")
    repair = jd.get("repair") or {}
    count = repair.get("count")
    if isinstance(count, int) and count:
        median = repair.get("median_jd_minus_ours")
        shown = fmt.hours(median) if isinstance(median, float | int) else "—"
        lines.append(
            f"  维修 (repair): {count} 单不一致 (differ), 京东−本工具中位数 (JD − ours median) "
            f"{shown}; 无维修完成时间，无法检验 (not testable without a repair-completion time)"
        )
    return lines
