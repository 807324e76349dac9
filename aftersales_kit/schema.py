"""The canonical schema of one service order (服务单) row, and the header aliases of JD exports.

DOMAIN §2 is the source. Every loaded frame has all of ``COLUMNS`` (optional ones absent from the
file are added as nulls) in these dtypes, plus any unknown extra columns as strings.
"""

from __future__ import annotations

import polars as pl

DATETIME = pl.Datetime("us")  # naive China local time (Asia/Shanghai, no DST)

#: canonical name -> dtype, in the order a loaded frame has them.
COLUMNS: dict[str, pl.DataType] = {
    "service_id": pl.String(),
    "store_id": pl.String(),
    "store_name": pl.String(),
    "order_id": pl.String(),
    "sku_id": pl.String(),
    "sku_name": pl.String(),
    "category": pl.String(),
    "service_type": pl.String(),
    "reason": pl.String(),
    "approve_result": pl.String(),
    "status": pl.String(),
    "apply_time": DATETIME,
    "first_audit_time": DATETIME,
    "pickup_time": DATETIME,
    "customer_ship_time": DATETIME,
    "carrier": pl.String(),
    "waybill_no": pl.String(),
    "logistics_update_time": DATETIME,
    "sign_time": DATETIME,
    "inbound_time": DATETIME,
    "first_process_time": DATETIME,
    "complete_time": DATETIME,
    "jd_intervened": pl.Boolean(),
    "intervention_start": DATETIME,
    "intervention_end": DATETIME,
    "feedback_rounds": pl.Int32(),
    "quantity": pl.Int32(),
    "refund_amount": pl.Float64(),
    "auditor": pl.String(),
    "customer_name": pl.String(),
    "customer_phone": pl.String(),
    "address": pl.String(),
}

#: canonical name -> Chinese headers; the first is what the demo export writes.
ALIASES: dict[str, tuple[str, ...]] = {
    "service_id": ("服务单号", "售后服务单号"),
    "store_id": ("店铺ID", "店铺编号", "商家ID"),
    "store_name": ("店铺名称",),
    "order_id": ("订单号", "订单编号"),
    "sku_id": ("商品编号",),
    "sku_name": ("商品名称",),
    "category": ("商品类目", "类目"),
    "service_type": ("服务类型", "客户期望"),
    "reason": ("申请原因", "问题描述"),
    "approve_result": ("审核结果",),
    "status": ("服务单状态",),
    "apply_time": ("申请时间",),
    "first_audit_time": ("首次审核时间", "审核时间"),
    "pickup_time": ("取件时间",),
    "customer_ship_time": ("客户发货时间",),
    "carrier": ("快递公司",),
    "waybill_no": ("运单号",),
    "logistics_update_time": ("物流更新时间",),
    "sign_time": ("签收时间",),
    "inbound_time": ("入库时间", "收货时间"),
    "first_process_time": ("首次处理时间", "处理时间"),
    "complete_time": ("暂完结时间", "完结时间"),
    "jd_intervened": ("是否京东介入",),
    "intervention_start": ("介入开始时间",),
    "intervention_end": ("介入结束时间",),
    "feedback_rounds": ("待客户反馈次数",),
    "quantity": ("售后数量",),
    "refund_amount": ("退款金额",),
    "auditor": ("审核人",),
    "customer_name": ("客户姓名",),
    "customer_phone": ("联系电话",),
    "address": ("收货地址",),
}

#: Columns a file must have. ``store_id`` may instead be given once for a single-store file.
REQUIRED: tuple[str, ...] = (
    "service_id",
    "store_id",
    "service_type",
    "status",
    "apply_time",
    "first_audit_time",
    "first_process_time",
    "complete_time",
)

DATETIME_COLUMNS: tuple[str, ...] = tuple(c for c, t in COLUMNS.items() if t == DATETIME)
ID_COLUMNS: tuple[str, ...] = ("service_id", "store_id", "order_id", "sku_id", "waybill_no")
#: Personal data: masked everywhere it is shown or exported.
PERSONAL_COLUMNS: tuple[str, ...] = ("customer_name", "customer_phone", "address")
#: Untrusted free text typed by customers or staff; always escaped when rendered.
FREE_TEXT_COLUMNS: tuple[str, ...] = ("sku_name", "reason", "store_name", "auditor", "category")

#: Cell values that mean null in JD exports.
NULL_MARKERS: tuple[str, ...] = ("", "-", "--", "无")
