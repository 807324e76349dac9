"""The one order factory of the tests: canonical frames from hand-written rows.

``canonical`` turns rows into a frame with every schema column (missing values null);
``order`` writes one completed order from its stage hours; ``orders_frame`` fills the defaults
most rule and metric cases share. ``estate`` is the small fixed data set the section and portfolio
snapshots are drawn from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from aftersales_kit.schema import COLUMNS

T0 = datetime(2026, 3, 10, 8, 0, 0)
H = timedelta(hours=1)


def h(hours: float) -> datetime:
    """T0 plus ``hours``."""
    return T0 + timedelta(hours=hours)


def canonical(rows: Iterable[Mapping[str, object]]) -> pl.DataFrame:
    """A canonical frame of ``rows``: every schema column in schema order, missing ones null."""
    return pl.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rows], schema=COLUMNS)


def order(
    service_id: str,
    *,
    apply: datetime = T0,
    stages: tuple[float, float, float, float, float] = (1.0, 0.0, 0.0, 0.0, 1.0),
    store: str = "s1",
    service_type: str = "退货",
    approve_result: str | None = None,
    **values: object,
) -> dict[str, object]:
    """A completed order whose checkpoints follow the stage hours (audit, return, transit,
    inbound, process; 0 = no such checkpoint), overridden by ``values``."""
    audit, ret, transit, inbound, process = stages
    row: dict[str, object] = {
        "service_id": service_id,
        "store_id": store,
        "store_name": f"{store}店",
        "order_id": f"O-{service_id}",
        "sku_name": f"商品{service_id}",
        "service_type": service_type,
        "reason": "质量问题",
        "approve_result": approve_result,
        "status": "完成",
        "apply_time": apply,
    }
    at = apply + audit * H
    row["first_audit_time"] = at
    if ret:
        at += ret * H
        row["pickup_time" if approve_result == "上门取件" else "customer_ship_time"] = at
    if transit:
        at += transit * H
        row["sign_time"] = at
    if inbound:
        at += inbound * H
        row["inbound_time"] = at
    at += process * H
    row["first_process_time"] = at
    row["complete_time"] = at
    row.update(values)
    return row


def orders_frame(rows: tuple[dict[str, object], ...], *, service_type: str) -> pl.DataFrame:
    """Completed orders of store s1 applied at T0 (ids o0, o1, …), overridden by each row."""
    base = {"store_id": "s1", "service_type": service_type, "status": "完成", "apply_time": T0}
    return canonical(
        {**base, "service_id": f"o{i}", "complete_time": h(200), **row}
        for i, row in enumerate(rows)
    )


# --- the snapshot estate ------------------------------------------------------------------------

#: The window, report time and stores of :func:`estate`.
WINDOW_START, WINDOW_END = date(2026, 3, 1), date(2026, 3, 30)
AS_OF = datetime(2026, 3, 31, 10, 0)
PAYLOAD = "<script>window.__pwned=1</script>"


def estate() -> pl.DataFrame:
    """Three stores over the window 2026-03-01 … 03-30 (as of 03-31 10:00).

    s1 (a name with HTML in it) has long return orders with every stage, refunds, an exchange, a
    cancelled order, open orders about to breach, JD's own hours for two orders, a previous
    window, and customer text that must be escaped; s2 is fast; s3 has no counted order.
    """
    day = datetime(2026, 3, 2, 9, 0)
    s1 = {"store": "s1", "store_name": '旗舰店 <b>&"'}
    rows = [
        order("A1", apply=day, stages=(30, 10, 20, 4, 16), approve_result="上门取件",
              carrier="顺丰", auditor="王", customer_name="张三丰", customer_phone="13812345678",
              sku_name=PAYLOAD, jd_hours=80.0, feedback_rounds=0, **s1),
        order("A2", apply=day + 24 * H, stages=(40, 30, 10, 10, 10), carrier="京东",
              auditor="王", feedback_rounds=2, reason="七天无理由", jd_hours=95.0,
              sku_name="超长的商品名称" * 10, **s1),
        order("A3", apply=day + 3 * 24 * H, stages=(20, 0, 0, 0, 4), service_type="仅退款",
              auditor="李", feedback_rounds=0, **s1),
        order("A4", apply=day + 10 * 24 * H + 20 * H, stages=(8, 0, 0, 0, 8),
              service_type="仅退款", auditor="李", **s1),
        order("A5", apply=day + 12 * 24 * H, stages=(50, 20, 30, 10, 20), service_type="换货",
              carrier="顺丰", auditor="王", reason="商品损坏", **s1),
        order("A6", apply=day + 20 * 24 * H + 22 * H, stages=(12, 0, 0, 0, 2),
              service_type="仅退款", auditor="李", **s1),
        # a refund left unaudited for 90 h: the mean goes over the 60 h line
        order("A7", apply=day + 15 * 24 * H, stages=(90, 0, 0, 0, 10), service_type="仅退款",
              auditor="李", **s1),
        # tomorrow: one order leaves the window (completed on its first day), one enters
        order("T1", apply=datetime(2026, 2, 27, 9), stages=(40, 0, 0, 0, 8),
              service_type="仅退款", **s1),
        order("T2", apply=datetime(2026, 3, 30, 9), stages=(10, 0, 0, 0, 10),
              service_type="仅退款", **s1),
        # ends before it starts: excluded as invalid
        order("X2", apply=day + 6 * 24 * H, stages=(1, 0, 0, 0, 1),
              first_process_time=day + 5 * 24 * H, **s1),
        # the previous window: one order of 40 h
        order("P1", apply=datetime(2026, 2, 3, 9), stages=(20, 0, 0, 0, 20),
              service_type="仅退款", **s1),
        # cancelled before audit: excluded
        order("X1", apply=day + 5 * 24 * H, status="取消", first_audit_time=None,
              first_process_time=None, complete_time=None, **s1),
        # open: not audited for 25 h; picked up 38 h ago without tracking
        order("O1", apply=AS_OF - 25 * H, status="待审核", first_audit_time=None,
              first_process_time=None, complete_time=None, customer_name="李四",
              customer_phone="13900001111", **s1),
        order("O2", apply=AS_OF - 60 * H, status="待收货", first_audit_time=AS_OF - 50 * H,
              pickup_time=AS_OF - 38 * H, first_process_time=None, complete_time=None,
              approve_result="上门取件", **s1),
        # s2: two fast refunds
        order("B1", apply=day, stages=(2, 0, 0, 0, 1), store="s2", service_type="仅退款"),
        order("B2", apply=day + 48 * H, stages=(3, 0, 0, 0, 2), store="s2", service_type="仅退款"),
        # s3: one order outside the window only
        order("C1", apply=datetime(2026, 1, 10, 9), stages=(5, 0, 0, 0, 5), store="s3",
              service_type="仅退款"),
    ]  # fmt: skip
    return canonical(rows)


def planned_jobs(planned: Iterable[object], outcomes: dict[str, object]) -> list[Any]:
    """The jobs of a batch's plan (a fake ``batch._run_pool`` renders them); its skipped and
    failed stores go straight into ``outcomes``, as the real pool does."""
    from aftersales_kit.render import batch

    jobs = []
    for item in planned:
        if isinstance(item, batch.Outcome):
            outcomes[item.store] = item
        else:
            jobs.append(item)
    return jobs


#: The store report's sections that draw a chart.
CHARTED_SECTIONS = ("trend", "stages", "breakdown", "alerts", "heatmap", "what_if")


def charted_sections(*, stores: int, orders: int) -> Callable[[], list[str]]:
    """A function rendering every charted section of demo stores (diagnosed once) in both
    languages: the sections' HTML, to compare renders under different settings."""
    from aftersales_kit.demo.simulate import generate
    from aftersales_kit.diagnose import diagnose
    from aftersales_kit.render import sections
    from aftersales_kit.rules import load_rules
    from aftersales_kit.window import parse_window

    rules = load_rules()
    window = parse_window(None, end="2026-03-31", rules=rules)
    frame = generate(stores=stores, orders=orders, end="2026-03-31")
    result = diagnose(frame, window=window, rules=rules, as_of=datetime(2026, 4, 1, 9))

    def render() -> list[str]:
        return [
            str(getattr(sections, name)(d, lang=lang).html)
            for d in result.values()
            for lang in ("zh", "en")
            for name in CHARTED_SECTIONS
        ]

    return render
