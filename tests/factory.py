"""Canonical test frames: every schema column, hand-written rows filling only what a case needs."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from aftersales_kit.schema import COLUMNS

T0 = datetime(2026, 3, 10, 8, 0, 0)


def h(hours: float) -> datetime:
    """T0 plus ``hours``."""
    return T0 + timedelta(hours=hours)


def orders_frame(rows: tuple[dict[str, object], ...], *, service_type: str) -> pl.DataFrame:
    """Completed orders of store s1 applied at T0 (ids o0, o1, …), overridden by each row."""
    base = {"store_id": "s1", "service_type": service_type, "status": "完成", "apply_time": T0}
    records = []
    for i, row in enumerate(rows):
        record: dict[str, object] = dict.fromkeys(COLUMNS)
        record.update(base, service_id=f"o{i}", complete_time=h(200))
        record.update(row)
        records.append(record)
    return pl.DataFrame(records, schema=COLUMNS)
