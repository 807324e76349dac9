"""Manager views (DOMAIN §6 "Manager views"): what 风向标 cannot show.

Per SKU, per auditor and processor, 一次审核完成率 (the proxy of 一次性沟通完成率), the auto-audit
share with 售后自动化 (SA) candidates, and the readings check that tests alternative clock ends
against JD's own per-order hours (售后整体时长(H)). Every figure is over the window's counted
orders, computed as lazy polars plans grouped by ``store_id`` (collected with diagnose's other
plans, so every store takes one pass) and assembled per store into :class:`ManagerViews`.

A view whose columns the store's rows never fill says which column it needs (``missing``) instead
of showing zeros.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import polars as pl

from aftersales_kit import format as fmt
from aftersales_kit.model import Diagnosis, ManagerViews
from aftersales_kit.orders import ORDER_CLASS_COLUMN, ORDER_CLASS_KEYS
from aftersales_kit.rules import Rules, SceneName, SceneRule
from aftersales_kit.window import Window

if TYPE_CHECKING:
    from aftersales_kit.orders import DataTraits

_HOUR_US = 3_600_000_000.0
#: SA candidates: a class audited by hand needs at least this many counted orders …
SA_MIN_ORDERS = 30
#: … and at least this approval share among its manual audits.
SA_MIN_APPROVAL = 0.95
#: SKUs shown in the report (the sheet has all).
TOP_SKUS = 10
#: Auto-audits (自动审核类型 set) are one line of the auditor table.
SA_AUDITOR = "SA"
#: An auditor name shown as this when the configuration masks staff names.
MASK_PREFIX = {"auditor": "审核员", "processor": "处理人"}
#: service types whose goods are fixed or swapped (share 维修/换货 per SKU).
REPAIR_EXCHANGE = ("维修", "换货")
#: Rejection: the scene of audits closed or refused.
_REJECTED = SceneName.REFUSED.value
#: Columns each view needs (any non-null value in the store's counted orders).
NEEDS: Mapping[str, tuple[str, ...]] = {
    "sku": ("sku_id", "sku_name"),
    "auditor": ("auditor",),
    "last_audit": ("last_audit_time",),
    "processor": ("processor",),
    "inbound": ("inbound_time",),
    "jd_hours": ("jd_hours",),
    "auto_audit": ("auto_audit_type",),
}
#: The export's header of each needed column (what the report tells the merchant to add).
HEADERS: Mapping[str, str] = {
    "sku": "商品编号/商品名称",
    "auditor": "审核人姓名",
    "last_audit": "审核时间",
    "processor": "处理人",
    "inbound": "商家收货时间",
    "jd_hours": "售后整体时长(H)",
    "auto_audit": "自动审核类型",
}


def _hours(end: str | pl.Expr, start: str | pl.Expr) -> pl.Expr:
    e = pl.col(end) if isinstance(end, str) else end
    s = pl.col(start) if isinstance(start, str) else start
    return (e - s).dt.total_microseconds() / _HOUR_US


def _is_auto() -> pl.Expr:
    text = pl.col("auto_audit_type").cast(pl.String).str.strip_chars()
    return (text.is_not_null() & (text != "")).fill_null(False)


def _reaudit() -> pl.Expr:
    """审核时间 later than 商家首次审核时间: the order was audited again."""
    return (pl.col("last_audit_time") > pl.col("first_audit_time")).fill_null(False)


def _audit_known() -> pl.Expr:
    return pl.col("first_audit_time").is_not_null() & pl.col("last_audit_time").is_not_null()


def _first_audit_hours() -> pl.Expr:
    """Audit hours of a manual first audit that is also the latest (the named auditor did it)."""
    same = (pl.col("last_audit_time") == pl.col("first_audit_time")).fill_null(False)
    h = _hours("first_audit_time", "apply_time")
    return pl.when(same & ~_is_auto() & (h >= 0)).then(h)


def _is_reissue() -> pl.Expr:
    cols = ("return_method", "approve_result", "service_type")
    return pl.any_horizontal([(pl.col(c) == "补发商品").fill_null(False) for c in cols])


def _with_columns(lf: pl.LazyFrame) -> pl.LazyFrame:
    """``lf`` with every canonical column the views read (frames built by hand, or before the
    自动审核类型 column existed, lack some): an absent column is all null, as on loading."""
    from aftersales_kit.schema import COLUMNS

    have = set(lf.collect_schema().names())
    absent = [pl.lit(None, dtype=COLUMNS[c]).alias(c) for c in COLUMNS if c not in have]
    return lf.with_columns(absent) if absent else lf


# --- the lazy plans ------------------------------------------------------------------------------


def plans(counted: pl.LazyFrame, *, rules: Rules, traits: DataTraits) -> dict[str, pl.LazyFrame]:
    """Every manager view of every store as lazy frames (keys ``views:…``), from the window's
    counted orders (derived: ``hours``, ``scene``, ``stage_audit``, ``jd_matched``)."""
    sid = "store_id"
    counted = _with_columns(counted)
    line = float(rules.warning_hours)
    audit_line = float(rules.thresholds["audit_over_24h"])
    out: dict[str, pl.LazyFrame] = {}
    h = pl.col("hours")
    out["views:present"] = counted.group_by(sid).agg(
        pl.len().cast(pl.Int64).alias("counted"),
        pl.lit(_tolerance(traits)).alias("tolerance"),
        *[
            pl.any_horizontal([pl.col(c).is_not_null() for c in cols]).any().alias(view)
            for view, cols in NEEDS.items()
        ],
    )
    sku_key = pl.coalesce(pl.col("sku_id"), pl.col("sku_name"))
    out["views:sku"] = (
        counted.filter(sku_key.is_not_null())
        .group_by(sid, sku_key.alias("sku_key"))
        .agg(
            pl.col("sku_id").drop_nulls().first().alias("sku_id"),
            pl.col("sku_name").drop_nulls().mode().sort().first().alias("sku_name"),
            pl.len().cast(pl.Int64).alias("count"),
            pl.col("reason").str.contains("质量").fill_null(False).mean().alias("quality_share"),
            h.mean().alias("mean_hours"),
            pl.col("service_type")
            .is_in(REPAIR_EXCHANGE)
            .fill_null(False)
            .mean()
            .alias("repair_exchange_share"),
            (h - line).clip(lower_bound=0.0).sum().alias("over_line_hours"),
        )
    )
    audit_h = _first_audit_hours()
    who = pl.when(_is_auto()).then(pl.lit(SA_AUDITOR)).otherwise(pl.col("auditor"))
    rejected = (pl.col("scene") == _REJECTED).fill_null(False)
    out["views:auditor"] = (
        counted.with_columns(audit_h.alias("_audit_h"), who.alias("_who"))
        .group_by(sid, "_who")
        .agg(
            pl.len().cast(pl.Int64).alias("audits"),
            pl.col("_audit_h").count().cast(pl.Int64).alias("measured"),
            pl.col("_audit_h").median().alias("median_audit_hours"),
            (pl.col("_audit_h") > audit_line).sum().cast(pl.Int64).alias("_over"),
            rejected.mean().alias("rejection_share"),
            _audit_known().sum().cast(pl.Int64).alias("_known"),
            (_reaudit() & _audit_known()).sum().cast(pl.Int64).alias("_reaudits"),
        )
        .rename({"_who": "auditor"})
    )
    r2p = _hours("first_process_time", "inbound_time")
    out["views:processor"] = (
        counted.filter(pl.col("processor").is_not_null())
        .with_columns(pl.when(r2p >= 0).then(r2p).alias("_r2p"))
        .group_by(sid, "processor")
        .agg(
            pl.len().cast(pl.Int64).alias("orders"),
            pl.col("_r2p").count().cast(pl.Int64).alias("measured"),
            pl.col("_r2p").median().alias("median_receipt_to_process_hours"),
        )
    )
    with_class = counted.with_columns(pl.col(ORDER_CLASS_COLUMN).alias("order_class"))
    out["views:classes"] = with_class.group_by(sid, "order_class").agg(
        pl.len().cast(pl.Int64).alias("count"),
        _audit_known().sum().cast(pl.Int64).alias("known"),
        (_audit_known() & ~_reaudit()).sum().cast(pl.Int64).alias("first_pass"),
        _is_auto().sum().cast(pl.Int64).alias("auto"),
    )
    manual = ~_is_auto() & pl.col("first_audit_time").is_not_null()
    # Hours saved per counted order of the store: its total joined after the group-by (a
    # window over every counted order costs a second pass over them).
    totals = counted.group_by(sid).agg(pl.len().alias("_total"))
    out["views:sa"] = (
        with_class.filter(manual)
        .group_by(sid, "service_type", "order_class")
        .agg(
            pl.len().cast(pl.Int64).alias("manual"),
            (1.0 - rejected.cast(pl.Float64).mean()).alias("approval_share"),
            pl.col("stage_audit").fill_null(0.0).sum().alias("hours_saved"),
        )
        .join(totals, on=sid, how="left")
        .with_columns(pl.col("hours_saved") / pl.col("_total"))
        .drop("_total")
    )
    out["views:readings"] = _readings_plan(counted, rules=rules, traits=traits)
    diff = pl.col("jd_hours") - h
    out["views:repair"] = (
        counted.filter(
            (pl.col("scene") == SceneName.REPAIR.value)
            & pl.col("jd_hours").is_not_null()
            & ~pl.col("jd_matched").fill_null(False)
        )
        .group_by(sid)
        .agg(
            pl.len().cast(pl.Int64).alias("count"),
            diff.median().alias("median"),
            diff.quantile(0.1, "linear").alias("p10"),
            diff.quantile(0.9, "linear").alias("p90"),
        )
    )
    return out


#: Readings whose clock end is the pickup (取件时间).
_AT_PICKUP: tuple[str, ...] = ("flash_at_pickup", "replacement_at_pickup")


def _tolerance(traits: DataTraits) -> float:
    return 1.0 if traits.jd_whole_hours else 0.01


def _first_audit_scenes(rules: Rules) -> list[str]:
    return sorted({s.scene for s in rules.scenes if s.stop == "first_audit"})


def _readings_plan(counted: pl.LazyFrame, *, rules: Rules, traits: DataTraits) -> pl.LazyFrame:
    """Per store, scene and reading: orders whose hours differ from JD's (``mismatched``), those
    with the reading's clock end (``testable``) and those the reading explains (``explained``)."""
    tol = _tolerance(traits)
    mismatched = _with_columns(counted).filter(
        pl.col("jd_hours").is_not_null() & ~pl.col("jd_matched").fill_null(False)
    )
    scene = pl.col("scene")
    comp = SceneName.COMPENSATION.value
    # (reading, population, alternative clock end, scene label)
    tests: list[tuple[str, pl.Expr, pl.Expr, pl.Expr]] = [
        (
            "latest_audit",
            scene.is_in(_first_audit_scenes(rules)) & _reaudit(),
            pl.col("last_audit_time"),
            scene,
        ),
        (
            "reissue_at_process",
            (scene == comp) & _is_reissue(),
            pl.col("first_process_time"),
            pl.lit("补发"),
        ),
        (
            "compensation_at_process",
            (scene == comp) & ~_is_reissue(),
            pl.col("first_process_time"),
            pl.lit("直赔"),
        ),
        (
            "flash_at_pickup",
            scene == SceneName.FLASH_REFUND.value,
            pl.col("pickup_time"),
            scene,
        ),
        (
            "replacement_at_pickup",
            scene.is_in([SceneName.OFFLINE_REPLACEMENT.value, SceneName.HOME_REPLACEMENT.value]),
            pl.col("pickup_time"),
            scene,
        ),
    ]
    parts = []
    for reading, population, end, name in tests:
        alt = _hours(end, "apply_time")
        parts.append(
            mismatched.filter(population.fill_null(False)).select(
                "store_id",
                name.cast(pl.String).alias("scene"),
                pl.lit(reading).alias("reading"),
                alt.is_not_null().alias("_testable"),
                ((alt - pl.col("jd_hours")).abs() <= tol).fill_null(False).alias("_explained"),
                # 闪退 / 上门换新: was the first processing before the pickup (上门换新: the new
                # unit sent before the old one was fetched)? Null for the audit readings.
                pl.when(pl.lit(reading in _AT_PICKUP))
                .then((pl.col("first_process_time") < end).fill_null(False))
                .alias("_before"),
            )
        )
    return (
        pl.concat(parts, how="vertical")
        .group_by("store_id", "scene", "reading")
        .agg(
            pl.len().cast(pl.Int64).alias("mismatched"),
            pl.col("_testable").sum().cast(pl.Int64).alias("testable"),
            pl.col("_explained").sum().cast(pl.Int64).alias("explained"),
            pl.when(pl.col("_before").is_not_null().any())
            .then(pl.col("_before").sum())
            .cast(pl.Int64)
            .alias("process_before_end"),
        )
    )


# --- rules-file lines ----------------------------------------------------------------------------


def _toml_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def scene_toml(rule: SceneRule) -> str:
    """One ``[[scenes]]`` row as the rules file writes it."""
    lines = ["[[scenes]]", f'scene = "{rule.scene}"']
    fields = rule.fields[0] if len(rule.fields) == 1 else None
    lines.append(f'field = "{fields}"' if fields else f"field = {_toml_list(rule.fields)}")
    if rule.values:
        lines.append(f"values = {_toml_list(rule.values)}")
    if rule.prefixes:
        lines.append(f"prefixes = {_toml_list(rule.prefixes)}")
    lines.append(f'stop = "{rule.stop}"')
    if rule.missing_stop != "missing_end":
        lines.append(f'missing_stop = "{rule.missing_stop}"')
    return "\n".join(lines)


#: Readings a rules file can adopt: a scene row placed before the 直赔/补发 row.
_ADOPTABLE: Mapping[str, SceneRule] = {
    "reissue_at_process": SceneRule(
        scene=SceneName.COMPENSATION.value,
        fields=("return_method", "approve_result", "service_type"),
        values=("补发商品",),
        stop="first_process",
    ),
    "compensation_at_process": SceneRule(
        scene=SceneName.COMPENSATION.value,
        fields=("return_method", "approve_result"),
        values=(),
        prefixes=("直赔",),
        stop="first_process",
    ),
}


def rule_lines(reading: str) -> str | None:
    """The ``[[scenes]]`` row that adopts ``reading`` (None: the rules file cannot express it —
    a scene stops only at ``first_audit`` or ``first_process``)."""
    rule = _ADOPTABLE.get(reading)
    return None if rule is None else scene_toml(rule)


def adopted_scenes(rules: Rules, readings: Iterable[str]) -> str:
    """The whole ``[[scenes]]`` array of ``rules`` with ``readings`` adopted: their rows go right
    before the first row of their scene (a rules file replaces the array whole, so this is what
    a user pastes)."""
    rows = list(rules.scenes)
    for reading in readings:
        rule = _ADOPTABLE.get(reading)
        if rule is None:
            continue
        at = next((i for i, r in enumerate(rows) if r.scene == rule.scene), len(rows))
        rows.insert(at, rule)
    return "\n\n".join(scene_toml(r) for r in rows)


# --- per-store assembly --------------------------------------------------------------------------


def assemble(part: Callable[[str], pl.DataFrame], *, rules: Rules) -> ManagerViews:
    """The :class:`ManagerViews` of one store from its parts of :func:`plans`."""
    present = part("views:present")
    if not present.height:
        return ManagerViews()
    row = present.row(0, named=True)
    counted = int(row["counted"])
    missing = {view: HEADERS[view] for view in NEEDS if not row[view]}
    skus = (
        part("views:sku")
        .sort(["over_line_hours", "count", "sku_key"], descending=[True, True, False])
        .select(
            pl.col("sku_id"),
            pl.col("sku_name"),
            "count",
            "quality_share",
            "mean_hours",
            "repair_exchange_share",
            "over_line_hours",
        )
    )
    auditors = (
        part("views:auditor")
        .with_columns(
            pl.when(pl.col("measured") > 0)
            .then(pl.col("_over") / pl.col("measured"))
            .alias("over_24h_share"),
            pl.when(pl.col("_known") > 0)
            .then(pl.col("_reaudits") / pl.col("_known"))
            .alias("reaudit_share"),
            (pl.col("auditor") == SA_AUDITOR).fill_null(False).alias("_sa"),
        )
        .sort(["_sa", "audits", "auditor"], descending=[False, True, False], nulls_last=True)
        .select(
            "auditor",
            "audits",
            "measured",
            "median_audit_hours",
            pl.col("over_24h_share").cast(pl.Float64),
            "rejection_share",
            pl.col("reaudit_share").cast(pl.Float64),
        )
    )
    processors = part("views:processor").sort(["orders", "processor"], descending=[True, False])
    classes = part("views:classes")
    order = {k: i for i, k in enumerate(ORDER_CLASS_KEYS)}
    first_audit_classes = (
        classes.with_columns(
            pl.when(pl.col("known") > 0)
            .then(pl.col("first_pass") / pl.col("known"))
            .cast(pl.Float64)
            .alias("first_audit_rate"),
            pl.col("order_class").replace_strict(order, return_dtype=pl.Int8).alias("_o"),
        )
        .sort("_o")
        .select("order_class", "count", "known", "first_audit_rate")
    )
    known = int(classes["known"].sum()) if classes.height else 0
    first_pass = int(classes["first_pass"].sum()) if classes.height else 0
    auto = int(classes["auto"].sum()) if classes.height else 0
    sa = part("views:sa")
    candidates = (
        sa.filter(
            (pl.col("manual") >= SA_MIN_ORDERS) & (pl.col("approval_share") >= SA_MIN_APPROVAL)
        )
        .sort(["hours_saved", "service_type", "order_class"], descending=[True, False, False])
        .select("service_type", "order_class", "manual", "approval_share", "hours_saved")
    )
    readings = part("views:readings")
    if readings.height:
        readings = readings.sort(
            ["scene", "explained", "reading"], descending=[False, True, False]
        ).with_columns(fmt.texts(pl.col("reading"), rule_lines).alias("rule_lines"))
    repair_df = part("views:repair")
    repair: dict[str, float | int | None] = (
        {k: repair_df[k][0] for k in ("count", "median", "p10", "p90")} if repair_df.height else {}
    )
    return ManagerViews(
        counted=counted,
        skus=skus,
        auditors=auditors,
        processors=processors,
        first_audit_rate=first_pass / known if known else None,
        first_audit_classes=first_audit_classes,
        auto_share=auto / counted if counted and "auto_audit" not in missing else None,
        auto_count=auto,
        sa_candidates=candidates,
        readings=readings,
        repair=repair,
        missing=missing,
        tolerance_hours=float(row["tolerance"]),
    )


# --- the readings check of one store (metrics --json) --------------------------------------------


def readings_json(
    frame: pl.LazyFrame | pl.DataFrame, *, store_id: str, window: Window, rules: Rules
) -> tuple[list[dict[str, object]], dict[str, object]]:
    """``(jd_check.readings, jd_check.repair)`` of ``metrics --json`` for one store."""
    from aftersales_kit.metrics import sample_in_window
    from aftersales_kit.orders import data_traits

    lf = frame.lazy()
    traits = data_traits(lf)
    counted = sample_in_window(
        lf.filter(pl.col("store_id") == store_id), window=window, rules=rules, traits=traits
    ).filter(pl.col("counted"))
    readings = _readings_plan(counted, rules=rules, traits=traits).collect()
    rows = readings.sort(["scene", "explained", "reading"], descending=[False, True, False])
    diff = pl.col("jd_hours") - pl.col("hours")
    repair = (
        counted.filter(
            (pl.col("scene") == SceneName.REPAIR.value)
            & pl.col("jd_hours").is_not_null()
            & ~pl.col("jd_matched").fill_null(False)
        )
        .select(
            pl.len().cast(pl.Int64).alias("count"),
            diff.median().alias("median_jd_minus_ours"),
            diff.quantile(0.1, "linear").alias("p10"),
            diff.quantile(0.9, "linear").alias("p90"),
        )
        .collect()
        .row(0, named=True)
    )
    found: list[dict[str, object]] = [
        {
            "scene": r["scene"],
            "reading": r["reading"],
            "mismatched": r["mismatched"],
            "testable": r["testable"],
            "explained": r["explained"],
            "rule_lines": rule_lines(r["reading"]),
        }
        for r in rows.iter_rows(named=True)
    ]
    # 维修 cannot be tested: the export has no repair-completion time.
    return found, {**repair, "testable": False}


# --- configuration: masked staff names, the peer mean --------------------------------------------


def staff_names(d: Diagnosis) -> dict[str, dict[str, str]]:
    """column -> {name: 审核员1 …}: every auditor / processor name the diagnosis shows, numbered
    in the order of the views' tables (then the breakdown's, then the orders')."""
    v = d.views
    sources: dict[str, list[pl.Series]] = {"auditor": [], "processor": []}
    if v is not None:
        if "auditor" in v.auditors.columns:
            sources["auditor"].append(v.auditors["auditor"])
        if "processor" in v.processors.columns:
            sources["processor"].append(v.processors["processor"])
    by_auditor = d.breakdowns.get("auditor")
    if by_auditor is not None and "key" in by_auditor.columns:
        sources["auditor"].append(by_auditor["key"])
    for column in sources:
        if column in d.orders.columns:
            sources[column].append(d.orders[column])
    out: dict[str, dict[str, str]] = {}
    for column, series in sources.items():
        names = [
            n
            for s in series
            for n in s.cast(pl.String).to_list()
            if n is not None and n != SA_AUDITOR
        ]
        unique = list(dict.fromkeys(names))
        out[column] = {n: f"{MASK_PREFIX[column]}{i}" for i, n in enumerate(unique, start=1)}
    return out


def mask_staff(d: Diagnosis) -> Diagnosis:
    """``d`` with auditor and processor names replaced by 审核员1, 处理人1 … (SA and unrecorded
    stay as they are) in the manager views, the auditor breakdown and the orders: for reports
    sent outside the company."""
    if d.views is not None and d.views.staff_masked:
        return d
    names = staff_names(d)

    def masked(frame: pl.DataFrame, column: str, *, as_: str | None = None) -> pl.DataFrame:
        target = as_ or column
        if not frame.height or target not in frame.columns:
            return frame
        return frame.with_columns(pl.col(target).cast(pl.String).replace(names[column]))

    breakdowns = dict(d.breakdowns)
    if "auditor" in breakdowns:
        breakdowns["auditor"] = masked(breakdowns["auditor"], "auditor", as_="key")
    orders = masked(masked(d.orders, "auditor"), "processor")
    views = d.views
    if views is not None:
        views = replace(
            views,
            auditors=masked(views.auditors, "auditor"),
            processors=masked(views.processors, "processor"),
            staff_masked=True,
        )
    return replace(d, views=views, breakdowns=breakdowns, orders=orders)


def configure(
    diagnoses: Mapping[str, Diagnosis],
    *,
    peer_hours: Mapping[str, float] | None = None,
    staff_masked: bool = False,
) -> dict[str, Diagnosis]:
    """The diagnoses with their stores' peer means set and, when ``staff_masked``, staff names
    masked (:func:`mask_staff`)."""
    out: dict[str, Diagnosis] = {}
    for sid, d in diagnoses.items():
        peer = (peer_hours or {}).get(sid)
        if d.views is not None and peer is not None:
            d = replace(d, views=replace(d.views, peer_hours=float(peer)))
        out[sid] = mask_staff(d) if staff_masked else d
    return out
