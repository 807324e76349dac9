"""The canonical schema of one service order (服务单) row, and the header aliases of JD exports.

DOMAIN §2 is the source. Every loaded frame has all of ``COLUMNS`` (optional ones absent from the
file are added as nulls) in these dtypes, plus any unknown extra columns as strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

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
    "reason_detail": pl.String(),
    "description": pl.String(),
    "return_method": pl.String(),
    "approve_result": pl.String(),
    "process_result": pl.String(),
    "flash_refund": pl.Boolean(),
    "status": pl.String(),
    "apply_time": DATETIME,
    "first_audit_time": DATETIME,
    "last_audit_time": DATETIME,
    "pickup_time": DATETIME,
    "customer_ship_time": DATETIME,
    "carrier": pl.String(),
    "waybill_no": pl.String(),
    "logistics_update_time": DATETIME,
    "sign_time": DATETIME,
    "inbound_time": DATETIME,
    "first_process_time": DATETIME,
    "complete_time": DATETIME,
    "jd_hours": pl.Float64(),
    "jd_intervened": pl.Boolean(),
    "intervention_start": DATETIME,
    "intervention_end": DATETIME,
    "feedback_rounds": pl.Int32(),
    "quantity": pl.Int32(),
    "amount": pl.Float64(),
    "refund_amount": pl.Float64(),
    "auditor": pl.String(),
    "processor": pl.String(),
    "buyer_account": pl.String(),
    "customer_name": pl.String(),
    "customer_phone": pl.String(),
    "address": pl.String(),
    "province": pl.String(),
    "city": pl.String(),
    "auto_audit_type": pl.String(),
}

#: canonical name -> headers of real JD exports in priority order (DOMAIN §2): when a file has
#: several, the first in this list wins. The first is the 京麦 export's header where it has one.
ALIASES: dict[str, tuple[str, ...]] = {
    "service_id": ("服务单号", "售后服务单号"),
    "store_id": ("店铺ID", "店铺编号", "商家ID"),
    "store_name": ("店铺名称",),
    "order_id": ("订单号", "订单编号"),
    "sku_id": ("商品编号",),
    "sku_name": ("商品名称",),
    "category": ("商品类目", "类目"),
    "service_type": ("客户期望", "客户预期处理方式", "服务类型"),
    "reason": ("一级申请原因", "申请原因"),
    "reason_detail": ("二级申请原因",),
    "description": ("客户问题描述", "问题描述"),
    "return_method": ("返回方式",),
    "approve_result": ("审核结果",),
    "process_result": ("处理结果", "处理结果描述"),
    "flash_refund": ("是否闪退订单",),
    "status": ("服务单状态", "售后状态"),
    "apply_time": ("售后申请时间", "售后服务单申请时间", "申请时间"),
    # 审核时间 / 最新审核时间 is the latest audit: never the metric's first audit.
    "first_audit_time": ("商家首次审核时间", "首次审核时间"),
    "last_audit_time": ("审核时间", "最新审核时间"),
    "pickup_time": ("取件时间",),
    "customer_ship_time": ("客户发货时间", "发货时间"),
    "carrier": ("快递公司",),
    "waybill_no": ("运单号",),
    "logistics_update_time": ("物流更新时间",),
    "sign_time": ("签收时间",),
    "inbound_time": ("商家收货时间", "入库时间", "收货时间"),
    "first_process_time": ("商家首次处理时间", "首次处理时间", "处理时间"),
    "complete_time": ("暂完结时间", "完结时间"),
    "jd_hours": ("售后整体时长(H)", "售后服务单整体时长", "售后整体时长"),
    "jd_intervened": ("是否京东介入",),
    "intervention_start": ("介入开始时间",),
    "intervention_end": ("介入结束时间",),
    "feedback_rounds": ("待客户反馈次数",),
    "quantity": ("商品数量", "售后数量"),
    "amount": ("商品金额",),
    "refund_amount": ("退款金额",),
    "auditor": ("审核人姓名", "审核人"),
    "processor": ("处理人",),
    "buyer_account": ("下单账号",),
    "customer_name": ("客户姓名",),
    "customer_phone": ("联系电话",),
    "address": ("收货地址",),
    "province": ("省",),
    "city": ("市",),
    "auto_audit_type": ("自动审核类型",),
}

#: Columns a file must have. ``store_id`` may instead come from the store identity (DOMAIN §2:
#: ``--store-id``, the ``[stores]`` table of the configuration, or a ``data/<store id>/`` folder).
REQUIRED: tuple[str, ...] = (
    "service_id",
    "store_id",
    "service_type",
    "status",
    "apply_time",
    "first_audit_time",
    "first_process_time",
)

#: Enumerated columns whose values the rules match on: an unknown value is kept, counted in data
#: quality and follows the "otherwise" rows of DOMAIN §3.
ENUM_COLUMNS: tuple[str, ...] = (
    "service_type",
    "status",
    "return_method",
    "approve_result",
    "process_result",
)
#: The values JD documents for them (JD-EXPORTS.md), including the older export's wording.
KNOWN_VALUES: dict[str, frozenset[str]] = {
    "service_type": frozenset(
        "售前退款 退货 仅退款 已收货退款 未收货退款 换货 维修 大家电安装 大家电移机 "
        "大家电增值服务 上门维修 补发商品 优鲜赔 试用收回".split()
    ),
    "status": frozenset(
        "待审核领取 待审核 待客户反馈 审核关闭 待收货 待处理领取 待处理 待用户确认 完成 取消 "
        "客户已反馈 待审核和待客户反馈 提交退款申请 待下发维修中心接单 上门维修中 上门检测中 "
        "商家催收待处理 审核不通过 拒绝".split()
    ),
    "return_method": frozenset(
        "直赔积分 直赔余额 直赔优惠卷 直赔优惠券 直赔京豆 直赔商品 上门换新 上门取件 自营取件 "
        "客户送货 客户发货 闪电退款 虚拟退款 上门检测 大家电检测 大家电安装 大家电移机 大家电维修 "
        "大家电其它 上门维修 补发商品 退款不退货 换货 线下换新 送货至门店 快递至门店 "
        "门店上门取件 京东快运上门取件 德邦取件".split()
    ),
    "approve_result": frozenset(
        "审核通过 审核不通过 拒绝 直赔积分 直赔余额 直赔优惠卷 直赔优惠券 直赔京豆 直赔商品 "
        "上门换新 上门取件 自营取件 客户送货 客户发货 闪电退款 虚拟退款 上门检测 上门维修 "
        "补发商品 退款不退货 换货 线下换新 返修换新".split()
    ),
    "process_result": frozenset(
        "返修换新 退货 换良 原返 维修 强制关单 换货 线下换新 赔付 换新 上门换新".split()
    ),
}

DATETIME_COLUMNS: tuple[str, ...] = tuple(c for c, t in COLUMNS.items() if t == DATETIME)
ID_COLUMNS: tuple[str, ...] = ("service_id", "store_id", "order_id", "sku_id", "waybill_no")
#: Personal data: masked everywhere it is shown or exported.
PERSONAL_COLUMNS: tuple[str, ...] = (
    "buyer_account",
    "customer_name",
    "customer_phone",
    "address",
    "province",
    "city",
)
#: Cell values that mean null in JD exports.
NULL_MARKERS: tuple[str, ...] = ("", "-", "--", "无")


def latest_timestamp(columns: Iterable[str], *, now: datetime | None = None) -> pl.Expr:
    """A row's latest timestamp among the canonical time columns in ``columns``, ignoring any
    after ``now`` (default: now in China): DOMAIN §2's data_as_of is its maximum over a store."""
    if now is None:
        now = datetime.now(ZoneInfo("Asia/Shanghai")).replace(microsecond=0, tzinfo=None)
    present = [c for c in DATETIME_COLUMNS if c in set(columns)]
    if not present:
        return pl.lit(None, dtype=DATETIME)
    return pl.max_horizontal(pl.when(pl.col(c) <= now).then(pl.col(c)) for c in present)
