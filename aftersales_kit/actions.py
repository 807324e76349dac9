"""Every open order and who acts on it next (DOMAIN §5, §7 "Open orders JSON").

``aftersales actions`` prints the rows the report's open-order list, the team lists, the xlsx
team sheets, the email and the daily push are made of: :attr:`Diagnosis.open_at_risk`, already in
the one order every consumer uses (:data:`aftersales_kit.diagnose.OPEN_ORDER_SORT`). Ticket
systems and bots read the JSON; people read the table per team.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

from aftersales_kit.orders import TEAMS
from aftersales_kit.text import hours_left, label, t

if TYPE_CHECKING:
    from aftersales_kit.model import Diagnosis


class ActionRow(TypedDict):
    """One open order of the §7 JSON."""

    service_id: str
    status: str | None
    scene: str | None
    stage: str
    team: str
    rule: str | None
    elapsed_hours: float
    hours_left: float | None
    due_at: str | None
    over_60h: bool
    will_count: bool
    dispute_risk: bool
    order_id: str | None
    return_method: str | None
    apply_time: str | None
    waybill: str | None
    carrier: str | None
    action: str
    action_text: str


class CompensationRow(TypedDict):
    """An audited 直赔/补发 order still 待处理: not open (its clock stopped), listed apart."""

    service_id: str
    status: str | None
    scene: str | None
    team: str
    order_id: str | None
    apply_time: str | None
    first_audit_time: str | None
    action: str
    action_text: str


class ActionsJson(TypedDict):
    store_id: str
    as_of: str
    data_as_of: str | None
    orders: list[ActionRow]
    compensation_pending: list[CompensationRow]


def _moment(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _hours(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def action_rows(d: Diagnosis, *, lang: str = "zh") -> list[ActionRow]:
    """The open orders of ``d`` as §7 rows, in the lists' order."""
    rows: list[ActionRow] = []
    for r in d.open_at_risk.iter_rows(named=True):
        rows.append(
            {
                "service_id": str(r["service_id"]),
                "status": r["status"],
                "scene": r["scene"],
                "stage": r["stage"],
                "team": r["team"],
                "rule": r["rule"],
                "elapsed_hours": float(r["elapsed_hours"]),
                "hours_left": _hours(r["hours_to_breach"]),
                "due_at": _moment(r["due_at"]),
                "over_60h": bool(r["over_60h"]),
                "will_count": bool(r["will_count"]),
                "dispute_risk": bool(r["dispute_risk"]),
                "order_id": r["order_id"],
                "return_method": r["return_method"],
                "apply_time": _moment(r["apply_time"]),
                "waybill": r["waybill_no"],
                "carrier": r["carrier"],
                "action": r["next_action"],
                "action_text": t(f"action.{r['next_action']}", lang),
            }
        )
    return rows


def actions_json(d: Diagnosis, *, lang: str = "zh") -> ActionsJson:
    """DOMAIN §7's open-orders object of one store."""
    return {
        "store_id": d.store_id,
        "as_of": d.as_of.strftime("%Y-%m-%d %H:%M:%S"),
        "data_as_of": _moment(d.data_as_of),  # DOMAIN §2: the latest timestamp in its rows
        "orders": action_rows(d, lang=lang),
        "compensation_pending": [
            {
                "service_id": str(r["service_id"]),
                "status": r["status"],
                "scene": r["scene"],
                "team": "cs",
                "order_id": r["order_id"],
                "apply_time": _moment(r["apply_time"]),
                "first_audit_time": _moment(r["first_audit_time"]),
                "action": r["next_action"],
                "action_text": t(f"action.{r['next_action']}", lang),
            }
            for r in d.compensation_pending.iter_rows(named=True)
        ],
    }


def actions_text(d: Diagnosis, *, lang: str = "zh") -> str:
    """The open orders as one plain table per team (the ``actions`` default output)."""
    rows = action_rows(d, lang=lang)
    lines = [
        t("actions.heading", lang, store=d.store_id, as_of=d.as_of.strftime("%Y-%m-%d %H:%M")),
        t("open.as_of_export", lang),
    ]
    for team in TEAMS:
        mine = [r for r in rows if r["team"] == team]
        lines += ["", f"{t(f'team.{team}', lang)} ({len(mine)})"]
        if not mine:
            lines.append("  " + t("team.none", lang))
        for r in mine:
            marks = []
            if not r["will_count"]:
                marks.append(t("open.not_counted", lang))
            if r["dispute_risk"]:
                marks.append(t("open.dispute", lang))
            parcel = " ".join(x for x in (r["carrier"], r["waybill"]) if x)
            cells = [
                r["service_id"],
                label("stage", r["stage"], lang),
                label("rule", r["rule"], lang) if r["rule"] else "",
                hours_left(r["hours_left"], lang=lang),
                r["action_text"],
                parcel,
                "、".join(marks) if lang == "zh" else ", ".join(marks),
            ]
            lines.append("  " + " | ".join(c for c in cells if c))
    pending = d.compensation_pending
    if pending.height:
        lines += ["", f"{t('team.compensation', lang)} ({pending.height})"]
        for c in pending.iter_rows(named=True):
            action = t(f"action.{c['next_action']}", lang)
            lines.append(f"  {c['service_id']} | {action}")
    return "\n".join(lines)
