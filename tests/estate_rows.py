"""Synthetic portfolio rows (the sidecar summaries a batch gathers) for index tests at scale."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

LEVELS = ("high", "watch", "ok")
BOARDS = (("仅退款", "audit"), ("退货", "transit"), ("换新", "process"), None)


def summary(n: int, *, seed: int = 1, min_orders: int = 30) -> dict[str, Any]:
    """``n`` stores with varied means, sample sizes, levels, short boards and groups."""
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        sid = f"{2000000 + i}"
        counted = rnd.choice([1, 5, 12, 40, 80, 200, 600])
        mean = round(rnd.uniform(20, 110), 2)
        board = BOARDS[i % len(BOARDS)]
        rows.append(
            {
                "store_id": sid,
                "store_name": f"店铺{i:05d}",
                "report": f"{sid}/2026-03-02_2026-03-31.html",
                "window_start": "2026-03-02",
                "window_end": "2026-03-31",
                "counted": counted,
                "mean_hours": mean,
                "prev_mean_hours": round(mean + rnd.uniform(-5, 5), 2),
                "delta_hours": None,
                "median_hours": mean,
                "over_60h_share": rnd.random(),
                "warning_level": LEVELS[i % 3],
                "warning_state": "",
                "tomorrow_mean_hours": None,
                "tomorrow_delta_hours": None,
                "line_hours": 60.0,
                "short_board": None
                if board is None
                else {"scene": board[0], "stage": board[1], "excess_hours": 10.0},
                "open_at_risk": i % 4,
                "open_breached": i % 2,
                "data_until": "2026-03-31 20:00:00",
                "as_of": "2026-04-01 09:00:00",
                "data_as_of": "2026-03-31 20:00:00",
                "data_stale": False,
                "groups": {"brand": f"品牌{i % 7}", "manager": f"经理{i % 23}"},
            }
        )
    return {
        "window_start": "2026-03-02",
        "window_end": "2026-03-31",
        "min_orders": min_orders,
        "exports": ["estate.csv", "estate.xlsx"],
        "stores": rows,
    }


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path
