"""Realistic demo data: JD after-sales service orders (服务单) for several stores, real shape.

The generator simulates each order's life (application → audit → return shipping → transit →
signing → inbound → processing) with numpy, vectorised over all rows, so a million orders take
seconds. Values follow the real 京麦 export (JD-EXPORTS.md): 客户期望, 服务单状态, 返回方式 and
处理结果 use JD's own names, and every scene of DOMAIN §3 occurs (直赔/补发, 闪电退款, 线下换新,
返修换新, the 仅退款 family). Stores differ on purpose (staffing, warehouse, product mix) so
their reports tell different stories:

- ``1000101`` 示例旗舰店: ordinary; evening and weekend audits lag, a few transit and inbound tails.
- ``1000102`` 优品数码专营店: understaffed customer service, audits take about 40 h on average.
- ``1000103`` 家居生活馆: a warehouse backlog in the last month (inbound takes days).
- ``1000104`` 母婴优选店: excellent (fast audits, flash refunds, mean well under 24 h).
- further stores: varied characters (apparel exchanges, slow repairs, cheap carriers, a worsening
  trend, many 待客户反馈 rounds, late pickups), then randomised ones.

:func:`write_demo` writes what a merchant downloads (one 京麦 ``.xlsx`` per store plus the
``stores.toml`` naming them) and, in ``_canonical/``, the canonical parquet, which keeps the
columns JD exports lack (signing, tracking, intervention) as data assembled from other systems
would: the same orders, an alternative source (a load of the demo folder reads the downloads
only, so no order is read twice). ``--dirty`` writes the xlsx files in the odd forms other tools
produce (``￥1,088.00`` text, 服务单号 merged down, mixed timestamps, null markers) so the loader's
validation has something to report.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypedDict, Unpack

import numpy as np
import polars as pl

from aftersales_kit.demo.jd_formats import write_fbp_csv, write_jingmai_xlsx
from aftersales_kit.errors import UsageError
from aftersales_kit.resources import checkout_root
from aftersales_kit.schema import COLUMNS, DATETIME

HISTORY_DAYS = 180
FIRST_STORE_ID = 1000101
MAX_STORES = 899  # keeps store ids at 7 digits (1000101 … 1000999)
PARQUET_NAME = "all_stores.parquet"
#: The canonical parquet's folder: a leading ``_`` keeps it out of a load of ``data/demo`` (the
#: loader skips ``_``/``.`` names), so the demo folder holds each order once (DOMAIN §2).
CANONICAL_DIR = "_canonical"
EXPORTS_DIR = "exports"
STORES_TOML = "stores.toml"
DEFAULT_OUT = Path("data/demo")

#: Spring Festival exemption windows of DOMAIN §3 ([from, to), dates): staff are away, audits wait.
SPRING_FESTIVALS: tuple[tuple[date, date], ...] = (
    (date(2024, 2, 4), date(2024, 2, 19)),
    (date(2025, 1, 24), date(2025, 2, 7)),
    (date(2026, 2, 12), date(2026, 2, 26)),
    (date(2027, 2, 1), date(2027, 2, 15)),
    (date(2028, 1, 21), date(2028, 2, 4)),
)

#: What the customer asked for, as the simulation sees it; 客户期望 names come from it below.
KINDS = ("return", "refund", "exchange", "repair", "reissue")
K_RETURN, K_REFUND, K_EXCHANGE, K_REPAIR, K_REISSUE = range(len(KINDS))
#: The 仅退款 family as a current export names it (JD-EXPORTS.md): 已收货退款 is what the backend
#: calls the open platform's 仅退款, which a current download never shows.
REFUND_TYPES = ("已收货退款", "未收货退款", "售前退款")
REFUND_TYPE_P = np.array([0.57, 0.28, 0.15])
SERVICE_TYPES = ("退货", "换货", "维修", "补发商品", *REFUND_TYPES)
CARRIERS = ("京东物流", "顺丰速运", "中通快递", "圆通速递", "韵达快递", "申通快递")
#: Median hours from customer hand-over to the warehouse signing, per carrier above.
CARRIER_TRANSIT_MEDIAN = np.array([20.0, 18.0, 40.0, 42.0, 44.0, 46.0])
#: Which carrier a customer picks when shipping the item back themselves (客户发货).
CUSTOMER_CARRIER_P = np.array([0.24, 0.20, 0.18, 0.14, 0.13, 0.11])

#: Applications per hour of day: a lunch bump and the evening peak (20–22 h) when people are home.
HOUR_WEIGHTS = np.array(
    [
        1.2,
        0.6,
        0.3,
        0.2,
        0.2,
        0.3,
        0.7,
        1.4,
        2.5,
        3.8,
        4.6,
        4.8,
        4.5,
        4.4,
        4.8,
        4.9,
        4.8,
        4.6,
        4.8,
        5.8,
        7.6,
        8.2,
        7.0,
        3.8,
    ]
)
#: Applications per weekday (Mon…Sun): people deal with returns after the weekend.
WEEKDAY_WEIGHTS = np.array([1.30, 1.12, 1.00, 0.97, 0.95, 0.88, 0.85])

# --- catalogue ------------------------------------------------------------------------------------

#: family -> (sku_name, category, unit price in yuan). Brands are invented.
CATALOGUE: dict[str, tuple[tuple[str, str, float], ...]] = {
    "general": (
        ("悦厨 空气炸锅家用 5L大容量 可视窗 智能触控 AF-520", "空气炸锅", 299.0),
        ("悦厨 电饭煲 4L 智能预约 IH加热 家用多功能", "电饭煲", 399.0),
        ("净界 电动牙刷 成人声波 软毛 5种模式 白色", "电动牙刷", 169.0),
        ("风尚 高速吹风机 负离子护发 1600W 折叠便携", "电吹风", 259.0),
        ("净界 冲牙器 便携式 家用 水牙线 4支喷头", "冲牙器", 199.0),
        ("悦厨 破壁机 家用 1.75L 加热 多功能料理机", "破壁机", 599.0),
        ("清漾 扫地机器人 扫拖一体 自动集尘 激光导航", "扫地机器人", 1899.0),
        ("暖阳 电热水壶 1.7L 304不锈钢 双层防烫", "电水壶", 89.0),
        ("清漾 除螨仪 家用床上 紫外线 大吸力", "除螨仪", 229.0),
        ("风尚 挂烫机 家用手持 蒸汽熨斗 大功率", "挂烫机", 149.0),
    ),
    "digital": (
        ("声悦 Pro2 主动降噪 真无线蓝牙耳机 入耳式 星空黑", "耳机/耳麦", 499.0),
        ("极客派 65W 氮化镓充电器 三口快充 套装 含C-C线", "充电器", 129.0),
        ("极客派 20000毫安 移动电源 22.5W 快充 大容量", "移动电源", 149.0),
        ("星环 智能手表 GT 血氧心率监测 NFC 46mm 曜石黑", "智能手表", 1088.0),
        ("键客 K87 机械键盘 有线 热插拔 青轴 RGB背光", "键盘", 299.0),
        ("键客 M6 无线鼠标 蓝牙双模 静音 办公", "鼠标", 89.0),
        ("视界 27英寸 2K 165Hz IPS 电竞显示器", "显示器", 1299.0),
        ("声悦 便携蓝牙音箱 防水 户外 重低音", "蓝牙/无线音箱", 239.0),
        ("极客派 手机壳 适用iPhone 15 Pro 磁吸 透明防摔", "手机壳", 49.0),
        ("星环 平板电脑 11英寸 8+256G WiFi版 深空灰", "平板电脑", 1999.0),
    ),
    "home": (
        ("棉语 全棉四件套 1.8m床 纯棉斜纹 床单被套", "床品套件", 329.0),
        ("眠趣 天然乳胶枕 成人护颈枕 单只装", "枕头", 159.0),
        ("简居 折叠收纳箱 大号 带盖 衣物整理箱 3只装", "收纳箱", 79.0),
        ("暖阳 316不锈钢保温杯 500ml 大容量 商务", "保温杯", 99.0),
        ("厨匠 不粘锅炒锅 32cm 麦饭石 燃气电磁炉通用", "炒锅", 189.0),
        ("棉语 纯棉毛巾 5条装 A类 吸水 不掉毛", "毛巾", 59.0),
        ("简居 实木置物架 落地 多层 客厅卧室", "置物架", 259.0),
        ("光合 LED护眼台灯 学生 学习 国AA级", "台灯", 199.0),
        ("简居 加厚衣架 防滑无痕 30只装", "衣架", 39.0),
        ("眠趣 记忆棉床垫 1.5m 加厚 榻榻米", "床垫", 899.0),
    ),
    "baby": (
        ("贝护 纸尿裤 L码 88片 超薄透气 婴儿尿不湿", "纸尿裤", 139.0),
        ("贝护 婴儿湿巾 80抽×6包 手口可用", "湿巾", 49.0),
        ("小象 宽口径玻璃奶瓶 240ml 新生儿 防胀气", "奶瓶", 89.0),
        ("小象 婴儿推车 可坐可躺 轻便折叠 高景观", "婴儿推车", 899.0),
        ("安途 儿童安全座椅 0-12岁 ISOFIX接口 360°旋转", "安全座椅", 1599.0),
        ("禾苗 婴儿米粉 高铁 原味 258g", "米粉/菜粉", 69.0),
        ("小象 儿童保温杯 吸管 316不锈钢 400ml", "儿童水杯", 119.0),
        ("贝护 婴儿洗衣液 1L×2瓶 酵素 无荧光剂", "洗衣液", 59.0),
        ("乐智 儿童积木 大颗粒 拼装玩具 120块", "积木", 129.0),
        ("小象 婴儿连体衣 纯棉 春秋款 66cm", "婴儿服饰", 99.0),
    ),
    "apparel": (
        ("北纬 男士轻薄羽绒服 立领 90白鸭绒 黑色 XL", "羽绒服", 599.0),
        ("素然 女士纯棉T恤 宽松 圆领 短袖 白色 M", "T恤", 79.0),
        ("北纬 男士直筒牛仔裤 弹力 修身 蓝色 32", "牛仔裤", 199.0),
        ("素然 法式连衣裙 碎花 收腰 中长款 L", "连衣裙", 259.0),
        ("疾风 跑步鞋 男 轻便透气 缓震 42码", "跑步鞋", 399.0),
        ("北纬 冲锋衣 三合一 防水防风 男女同款", "冲锋衣", 699.0),
        ("素然 针织开衫 女 秋季 宽松 燕麦色", "针织衫", 169.0),
        ("疾风 运动短裤 速干 男 夏季 L", "运动裤", 69.0),
    ),
    "beauty": (
        ("润颜 玻尿酸补水面霜 50g 保湿修护", "面霜", 189.0),
        ("润颜 烟酰胺精华液 30ml 提亮肤色", "精华", 259.0),
        ("朱砂 哑光口红 丝绒 #888 正红色", "口红", 159.0),
        ("清漾 氨基酸洗面奶 120g 温和清洁", "洁面", 69.0),
        ("润颜 防晒霜 SPF50+ PA++++ 50ml", "防晒", 129.0),
        ("雅黛 淡香水 50ml 花果香调", "香水", 399.0),
        ("清漾 去屑控油洗发水 750ml", "洗发水", 79.0),
        ("雅黛 持妆粉底液 遮瑕 30ml 自然色", "粉底", 219.0),
    ),
    "sports": (
        ("疾风 瑜伽垫 TPE 6mm 加宽 防滑", "瑜伽垫", 99.0),
        ("野径 户外帐篷 3-4人 自动速开 防雨", "帐篷", 459.0),
        ("野径 登山包 40L 轻量 防泼水", "登山包", 299.0),
        ("疾风 可调节哑铃 20kg 一对 家用健身", "哑铃", 359.0),
        ("野径 折叠露营椅 便携 月亮椅", "户外椅", 129.0),
        ("疾风 羽毛球拍 全碳素 超轻 单拍", "羽毛球拍", 229.0),
        ("疾风 计数跳绳 钢丝 健身", "跳绳", 39.0),
        ("野径 速干衣 男 短袖 户外运动T恤", "速干衣", 89.0),
    ),
    "appliance": (
        ("寒霜 十字对开门冰箱 500L 一级能效 风冷无霜", "冰箱", 3999.0),
        ("洁澜 滚筒洗衣机 10公斤 洗烘一体 变频", "洗衣机", 2799.0),
        ("凉邦 1.5匹 新一级能效 变频冷暖 挂机空调", "空调", 2599.0),
        ("视界 65英寸 4K超高清 智能液晶电视", "平板电视", 3299.0),
        ("洁澜 洗碗机 13套 嵌入式 热风烘干", "洗碗机", 3699.0),
        ("暖阳 燃气热水器 16L 恒温 家用", "燃气热水器", 1599.0),
        ("凉邦 落地电风扇 直流变频 遥控 家用", "电风扇", 329.0),
        ("寒霜 电烤箱 家用 40L 多功能", "电烤箱", 399.0),
    ),
    "food": (
        ("山野 每日坚果 混合果仁 750g/30袋 礼盒", "坚果炒货", 129.0),
        ("牧场 纯牛奶 250ml×24盒 整箱", "牛奶", 69.0),
        ("稻香 五常大米 10kg 当季新米", "大米", 139.0),
        ("果园 赣南脐橙 5kg 新鲜水果 大果", "水果", 59.0),
        ("茗轩 明前龙井 绿茶 250g 礼盒装", "茶叶", 299.0),
        ("海味 冷冻大虾 1kg 盐冻 速冻", "海鲜水产", 159.0),
        ("山野 手撕牛肉干 500g 五香", "肉干肉脯", 89.0),
        ("甜蜜 黑巧克力礼盒 520g 夹心", "巧克力", 119.0),
    ),
}
FAMILIES = tuple(CATALOGUE)


#: Kind shares (return, refund, exchange, repair, reissue) per product family.
KIND_SHARES: dict[str, tuple[float, float, float, float, float]] = {
    "general": (0.53, 0.18, 0.15, 0.12, 0.02),
    "digital": (0.50, 0.14, 0.16, 0.18, 0.02),
    "home": (0.55, 0.22, 0.14, 0.06, 0.03),
    "baby": (0.53, 0.24, 0.15, 0.05, 0.03),
    "apparel": (0.48, 0.13, 0.34, 0.03, 0.02),
    "beauty": (0.52, 0.35, 0.09, 0.01, 0.03),
    "sports": (0.55, 0.17, 0.20, 0.06, 0.02),
    "appliance": (0.40, 0.10, 0.13, 0.35, 0.02),
    "food": (0.30, 0.60, 0.04, 0.00, 0.06),
}
#: The "does not fit" reason (二级申请原因) in each family's own words.
FIT_REASON = {
    "general": "用不习惯",
    "digital": "型号不适配",
    "home": "尺寸不合适",
    "baby": "尺码不合适",
    "apparel": "尺码不合适",
    "beauty": "肤质不适合",
    "sports": "尺码不合适",
    "appliance": "尺寸不合适",
    "food": "口味不喜欢",
}
FIT = "{fit}"
#: 二级申请原因 -> 一级申请原因 (FIT stands for the family's fit reason).
REASON_PARENT: dict[str, str] = {
    "不想要了": "七天无理由",
    "拍错/多拍": "七天无理由",
    FIT: "七天无理由",
    "商品瑕疵": "质量问题",
    "性能故障": "质量问题",
    "做工粗糙": "质量问题",
    "临期/变质": "质量问题",
    "发错型号": "发错货",
    "颜色款式与描述不符": "商品与描述不符",
    "拒收": "物流问题",
    "物流损坏": "物流问题",
    "未收到货": "物流问题",
    "少发配件": "少件/漏发",
    "价保退差": "价格问题",
}
#: kind -> (二级申请原因, weights).
REASONS: dict[int, tuple[tuple[str, ...], tuple[float, ...]]] = {
    K_RETURN: (
        (
            "不想要了",
            "拍错/多拍",
            FIT,
            "商品瑕疵",
            "性能故障",
            "发错型号",
            "拒收",
            "物流损坏",
            "颜色款式与描述不符",
        ),
        (0.30, 0.12, 0.10, 0.12, 0.06, 0.06, 0.09, 0.07, 0.08),
    ),
    K_REFUND: (
        ("少发配件", "拒收", "未收到货", "物流损坏", "商品瑕疵", "价保退差"),
        (0.28, 0.22, 0.18, 0.12, 0.10, 0.10),
    ),
    K_EXCHANGE: ((FIT, "商品瑕疵", "做工粗糙", "发错型号"), (0.40, 0.25, 0.20, 0.15)),
    K_REPAIR: (("性能故障", "商品瑕疵", "做工粗糙"), (0.60, 0.25, 0.15)),
    K_REISSUE: (("少发配件", "物流损坏", "临期/变质"), (0.55, 0.30, 0.15)),
}
QUALITY_PARENT = "质量问题"
#: What customers write in 客户问题描述, per 二级申请原因 (FIT: any fit reason).
DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "不想要了": ("买了用不上，申请退货", "不想要了，包装都没拆"),
    "拍错/多拍": ("下单拍多了一件", "拍错规格了，麻烦退一下"),
    FIT: ("不合适，想退换", "用着不合适，换一个"),
    "商品瑕疵": ("收到有划痕", "表面有污渍，做工有问题"),
    "性能故障": ("用了两天就坏了", "开不了机，充电也没反应"),
    "做工粗糙": ("线头很多，质量太差", "做工粗糙，和图片差很多"),
    "临期/变质": ("收到已经坏了，有异味", "快过期了"),
    "发错型号": ("发错型号了", "颜色发错了，我要的是黑色"),
    "颜色款式与描述不符": ("实物和详情页不一样", "颜色有色差"),
    "拒收": ("已拒收", "没买过，拒收了"),
    "物流损坏": ("外箱压坏了，东西也坏了", "快递摔坏了"),
    "未收到货": ("显示签收但没收到", "一直没收到货"),
    "少发配件": ("少了一个配件", "少发了一件"),
    "价保退差": ("降价了，申请价保", "买完就降价"),
}
#: Share of descriptions left empty, and of those that carry the customer's phone number.
EMPTY_DESCRIPTION_P = 0.35
PHONE_IN_DESCRIPTION_P = 0.02

#: 返回方式 (JD approveResult names). Clock stops: 直赔*/补发商品 at the first audit (DOMAIN §3).
METHODS = (
    "上门取件",
    "客户发货",
    "客户送货",
    "闪电退款",
    "上门换新",
    "退款不退货",
    "补发商品",
    "直赔积分",
    "直赔余额",
    "直赔优惠券",
    "直赔京豆",
    "直赔商品",
)
M_PICKUP, M_SHIP, M_SEND, M_FLASH, M_SWAP, M_NO_RETURN, M_REISSUE = range(7)
M_COMP_FIRST = 7  # 直赔* from here on
M_BALANCE = METHODS.index("直赔余额")
#: kind -> (返回方式, weights) for approved orders.
KIND_METHODS: dict[int, tuple[tuple[str, ...], tuple[float, ...]]] = {
    K_RETURN: (
        (
            "上门取件",
            "客户发货",
            "闪电退款",
            "客户送货",
            "直赔余额",
            "直赔优惠券",
            "直赔京豆",
            "直赔积分",
        ),
        (0.56, 0.26, 0.10, 0.03, 0.025, 0.012, 0.008, 0.005),
    ),
    K_REFUND: (("退款不退货", "直赔余额", "直赔优惠券", "直赔京豆"), (0.90, 0.05, 0.03, 0.02)),
    K_EXCHANGE: (("上门换新", "上门取件", "客户发货", "直赔商品"), (0.33, 0.44, 0.18, 0.05)),
    K_REPAIR: (("上门取件", "客户发货", "直赔优惠券"), (0.60, 0.36, 0.04)),
    K_REISSUE: (("补发商品",), (1.0,)),
}
#: 处理结果 names; which one an order gets depends on its kind and 返回方式 (``_process``).
PROCESS_RESULTS = ("退货", "换新", "换良", "线下换新", "维修", "返修换新", "原返", "赔付")
P_RETURN, P_NEW, P_GOOD, P_OFFLINE, P_REPAIR, P_REPAIR_NEW, P_AS_IS, P_COMP = range(8)
#: Repair outcomes (维修, 返修换新, 原返) and their median hours after inbound.
REPAIR_RESULTS = (P_REPAIR, P_REPAIR_NEW, P_AS_IS)
REPAIR_RESULT_P = np.array([0.55, 0.25, 0.20])
REPAIR_HOURS = np.array([36.0, 24.0, 12.0])
#: Exchange outcomes of items sent back (换新, 换良, 线下换新 at a JD store).
EXCHANGE_RESULTS = (P_NEW, P_GOOD, P_OFFLINE)
EXCHANGE_RESULT_P = np.array([0.80, 0.10, 0.10])
#: 上门换新: the share of the audit → courier-visit time before the replacement is sent out.
SWAP_PROCESS_SHARE = 0.3

APPROVED, REJECTED = "审核通过", "审核不通过"
#: 服务单状态 (JD serviceStatus names; a rejection shows as 审核关闭).
STATUSES = ("待审核", "待客户反馈", "待收货", "待处理", "待用户确认", "完成", "取消", "审核关闭")
S_AUDIT, S_FEEDBACK, S_RECEIVE, S_PROCESS, S_CONFIRM, S_DONE, S_CANCEL, S_CLOSED = range(8)
#: Share of approved orders audited again later (审核时间 after 商家首次审核时间).
REAUDIT_P = 0.15

#: Who books the processing (处理人); refunds the platform issues itself carry AUTO_PROCESSOR.
PROCESSORS = (
    "仓库-小刘",
    "仓库-阿华",
    "质检-老孙",
    "售后-小美",
    "售后-晓雯",
    "维修-小郑",
    "仓库-大伟",
    "售后-阿强",
)
AUTO_PROCESSOR = "系统自动退款"
AUTO_AUDITOR = "系统自动审核"
AUDITORS = (
    "客服小王",
    "客服小李",
    "客服小张",
    "客服阿杰",
    "售后-小美",
    "售后-晓雯",
    "售后主管-老陈",
    "客服小周",
    "客服莉莉",
    "客服小敏",
    "售后-阿强",
    "客服晨晨",
)

# --- customers ------------------------------------------------------------------------------------

SURNAMES = tuple("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘")
GIVEN = tuple(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉宇浩凯晨欣怡婷雪琳子涵梓轩"
)
PHONE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "173",
    "175",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "193",
    "195",
    "198",
    "199",
)
#: (province, city, districts, population weight, remote) — remote regions add transit days.
REGIONS: tuple[tuple[str, str, tuple[str, ...], float, bool], ...] = (
    ("北京市", "北京市", ("朝阳区", "海淀区", "丰台区", "通州区"), 6.0, False),
    ("上海市", "上海市", ("浦东新区", "闵行区", "徐汇区", "宝山区"), 6.0, False),
    ("广东省", "广州市", ("天河区", "白云区", "番禺区"), 5.0, False),
    ("广东省", "深圳市", ("南山区", "福田区", "宝安区", "龙岗区"), 5.0, False),
    ("浙江省", "杭州市", ("西湖区", "余杭区", "拱墅区"), 4.0, False),
    ("江苏省", "南京市", ("鼓楼区", "江宁区", "玄武区"), 3.0, False),
    ("江苏省", "苏州市", ("工业园区", "吴中区", "姑苏区"), 3.0, False),
    ("四川省", "成都市", ("武侯区", "高新区", "锦江区"), 4.0, False),
    ("湖北省", "武汉市", ("洪山区", "江汉区", "武昌区"), 3.0, False),
    ("山东省", "济南市", ("历下区", "槐荫区"), 2.5, False),
    ("山东省", "青岛市", ("市南区", "黄岛区"), 2.5, False),
    ("河南省", "郑州市", ("金水区", "二七区", "郑东新区"), 3.0, False),
    ("陕西省", "西安市", ("雁塔区", "未央区"), 2.5, False),
    ("湖南省", "长沙市", ("岳麓区", "雨花区"), 2.5, False),
    ("福建省", "厦门市", ("思明区", "湖里区"), 1.5, False),
    ("重庆市", "重庆市", ("渝北区", "江北区", "九龙坡区"), 3.0, False),
    ("天津市", "天津市", ("南开区", "河西区"), 2.0, False),
    ("辽宁省", "沈阳市", ("和平区", "浑南区"), 2.0, False),
    ("黑龙江省", "哈尔滨市", ("南岗区", "道里区"), 1.5, False),
    ("云南省", "昆明市", ("五华区", "盘龙区"), 1.5, False),
    ("甘肃省", "兰州市", ("城关区", "七里河区"), 1.0, True),
    ("新疆维吾尔自治区", "乌鲁木齐市", ("天山区", "沙依巴克区"), 0.8, True),
    ("西藏自治区", "拉萨市", ("城关区",), 0.3, True),
)
STREETS = (
    "人民路",
    "建设路",
    "中山路",
    "解放路",
    "幸福路",
    "文化路",
    "长江路",
    "和平路",
    "新华路",
    "光明街",
    "学府路",
    "滨河路",
    "花园路",
    "科技路",
)
COMMUNITIES = (
    "阳光",
    "锦绣",
    "翠苑",
    "金色",
    "东方",
    "绿地",
    "万科",
    "幸福里",
    "龙湖",
    "书香",
    "和谐",
    "紫荆",
)


# --- stores ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreProfile:
    """How one demo store behaves; hours are medians of log-normal delays."""

    name: str
    family: str
    scale: float = 1.0  # orders relative to ``orders``
    audit_hours: float = 4.0  # queue time for a manual audit while staff are on duty
    work_start: float = 9.0  # customer-service shift, hour of day
    work_end: float = 22.0
    weekend_off: float = 0.2  # share of weekend applications that wait for Monday
    first_pass: float = 0.8  # share of orders without a 待客户反馈 round
    auto_share: float = 0.2  # 仅退款 orders approved automatically (SA tool)
    flash_boost: float = 1.0  # multiplies the 闪电退款 share of returns
    pickup_hours: float = 10.0  # audit → carrier pickup
    ship_hours: float = 24.0  # audit → customer ships it back
    cheap_carriers: float = 0.0  # extra share of slow carriers among customer shipments
    inbound_hours: float = 4.0  # sign → inbound
    backlog_days: int = 0  # warehouse backlog in the last N days of the history
    process_factor: float = 1.0  # scales processing after inbound
    audit_trend: float = 0.0  # audit queue grows by this factor across the history
    reject_rate: float = 0.04
    cancel_rate: float = 0.035
    staff: int = 4


FIXED_PROFILES: tuple[StoreProfile, ...] = (
    StoreProfile(
        "示例旗舰店",
        "general",
        1.0,
        audit_hours=2.5,
        work_end=21.0,
        weekend_off=0.35,
        first_pass=0.72,
        auto_share=0.1,
        pickup_hours=10.0,
        inbound_hours=6.0,
        process_factor=1.0,
        staff=3,
    ),
    StoreProfile(
        "优品数码专营店",
        "digital",
        0.8,
        audit_hours=9.0,
        work_start=9.5,
        work_end=18.0,
        weekend_off=0.7,
        first_pass=0.6,
        auto_share=0.0,
        pickup_hours=20.0,
        staff=2,
    ),
    StoreProfile(
        "家居生活馆",
        "home",
        1.2,
        audit_hours=3.0,
        weekend_off=0.15,
        inbound_hours=6.0,
        backlog_days=30,
        staff=4,
    ),
    StoreProfile(
        "母婴优选店",
        "baby",
        0.7,
        audit_hours=0.6,
        work_start=8.0,
        work_end=24.0,
        weekend_off=0.0,
        first_pass=0.93,
        auto_share=0.8,
        flash_boost=14.0,
        pickup_hours=4.0,
        ship_hours=10.0,
        inbound_hours=1.5,
        process_factor=0.4,
        reject_rate=0.02,
        staff=6,
    ),
    StoreProfile(
        "潮流服饰旗舰店", "apparel", 1.4, audit_hours=3.0, weekend_off=0.2, ship_hours=40.0, staff=5
    ),
    StoreProfile("美妆个护专营店", "beauty", 0.9, audit_hours=2.0, auto_share=0.5, staff=4),
    StoreProfile(
        "运动户外旗舰店",
        "sports",
        0.6,
        audit_hours=5.0,
        cheap_carriers=0.5,
        ship_hours=36.0,
        staff=3,
    ),
    StoreProfile(
        "家电旗舰店",
        "appliance",
        1.1,
        audit_hours=4.0,
        pickup_hours=36.0,
        process_factor=1.8,
        staff=4,
    ),
    StoreProfile("食品生鲜专营店", "food", 0.5, audit_hours=1.5, auto_share=0.6, staff=3),
    StoreProfile("极客数码旗舰店", "digital", 1.3, audit_hours=3.0, audit_trend=4.0, staff=4),
    StoreProfile("悦居家纺专营店", "home", 0.7, audit_hours=5.0, first_pass=0.45, staff=3),
    StoreProfile("童趣玩具专营店", "baby", 0.9, audit_hours=4.0, pickup_hours=45.0, staff=3),
)
NAME_PREFIXES = (
    "星辰",
    "悦享",
    "京选",
    "百利",
    "君安",
    "木子",
    "青柠",
    "暖居",
    "优趣",
    "乐活",
    "云端",
    "锦绣",
    "森野",
    "初见",
    "橙意",
    "蓝鲸",
    "拾光",
    "麦田",
    "晨曦",
    "好物",
)
NAME_SUFFIXES = {
    "general": "旗舰店",
    "digital": "数码专营店",
    "home": "家居生活馆",
    "baby": "母婴优选店",
    "apparel": "服饰旗舰店",
    "beauty": "美妆个护专营店",
    "sports": "运动户外旗舰店",
    "appliance": "家电旗舰店",
    "food": "食品专营店",
}


def store_id(index: int) -> str:
    """Store id of the ``index``-th demo store (0-based): ``"1000101"``, ``"1000102"``, …"""
    return str(FIRST_STORE_ID + index)


def store_profiles(stores: int, *, seed: int = 7) -> tuple[StoreProfile, ...]:
    """The first ``stores`` profiles: the fixed characters, then randomised ones (by seed)."""
    profiles = list(FIXED_PROFILES[:stores])
    rng = np.random.default_rng([seed, 1])
    used = {p.name for p in profiles}
    for i in range(len(profiles), stores):
        family = FAMILIES[int(rng.integers(len(FAMILIES)))]
        name = f"{NAME_PREFIXES[i % len(NAME_PREFIXES)]}{NAME_SUFFIXES[family]}"
        if name in used:
            name = f"{name[:-1]}{i // len(NAME_PREFIXES) + 1}号店"
        used.add(name)
        profiles.append(
            StoreProfile(
                name,
                family,
                float(rng.uniform(0.5, 1.5)),
                audit_hours=float(rng.lognormal(np.log(4.0), 0.8)),
                work_start=float(rng.choice([8.0, 8.5, 9.0, 9.5])),
                work_end=float(rng.choice([18.0, 20.0, 21.0, 22.0, 23.0, 24.0])),
                weekend_off=float(rng.uniform(0.0, 0.6)),
                first_pass=float(rng.uniform(0.55, 0.92)),
                auto_share=float(rng.uniform(0.0, 0.6)),
                flash_boost=float(rng.uniform(0.5, 2.0)),
                pickup_hours=float(rng.uniform(8.0, 36.0)),
                ship_hours=float(rng.uniform(16.0, 40.0)),
                cheap_carriers=float(rng.uniform(0.0, 0.4)),
                inbound_hours=float(rng.uniform(2.0, 10.0)),
                backlog_days=int(rng.choice([0, 0, 0, 0, 14, 30])),
                process_factor=float(rng.uniform(0.6, 1.8)),
                audit_trend=float(rng.choice([0.0, 0.0, 0.0, 1.0, -0.5])),
                reject_rate=float(rng.uniform(0.02, 0.06)),
                cancel_rate=float(rng.uniform(0.02, 0.05)),
                staff=int(rng.integers(2, 7)),
            )
        )
    return tuple(profiles)


# --- generation -----------------------------------------------------------------------------------


def _parse_end(end: date | datetime | str | None) -> date:
    if end is None:
        # Yesterday in China, the day JD's 考核周期 ends (the report's default window too).
        from aftersales_kit.window import CHINA

        return datetime.now(CHINA).date() - timedelta(days=1)
    if isinstance(end, datetime):
        return end.date()
    if isinstance(end, date):
        return end
    try:
        return date.fromisoformat(str(end))
    except ValueError:
        msg = f"结束日期无效 (invalid end date): {end!r}; 请用 YYYY-MM-DD (use YYYY-MM-DD)"
        raise UsageError(msg) from None


def _check_sizes(stores: int, orders: int) -> None:
    if not 1 <= stores <= MAX_STORES:
        msg = f"店铺数无效 (invalid --stores): {stores}; 允许 (allowed) 1–{MAX_STORES}"
        raise UsageError(msg)
    if orders < 1:
        msg = f"服务单数无效 (invalid --orders): {orders}; 至少 1 (at least 1 per store)"
        raise UsageError(msg)


def _day_weights(start: date) -> tuple[np.ndarray, np.ndarray]:
    """Application volume per day of the history, and the audit load factor of that day."""
    volume = np.empty(HISTORY_DAYS)
    load = np.empty(HISTORY_DAYS)
    for i in range(HISTORY_DAYS):
        day = start + timedelta(days=i)
        promo = 1.0
        if day.month == 6 and day.day <= 17:
            promo = 1.35  # 618 pre-sales and warm-up: more orders, more returns
        elif day.month == 6 and day.day <= 25:
            promo = 1.9  # returns of the 6/18 peak arrive right after it
        elif day.month == 11 and day.day <= 10:
            promo = 1.4  # 双11 warm-up
        elif day.month == 11 and day.day <= 18:
            promo = 2.0  # returns after the 11/11 peak
        elif day.month == 10 and day.day >= 24:
            promo = 1.1  # 双11 pre-sales start
        for h_from, h_to in SPRING_FESTIVALS:
            if h_from <= day < h_to:
                promo *= 0.55  # shoppers and couriers are on holiday
            elif h_to <= day < h_to + timedelta(days=7):
                promo *= 1.3  # the post-festival catch-up
        volume[i] = WEEKDAY_WEIGHTS[day.weekday()] * promo
        load[i] = promo
    return volume, load


def _lognormal(
    rng: np.random.Generator, median: np.ndarray | float, sigma: float, n: int, cap: float
) -> np.ndarray:
    return np.minimum(median * np.exp(sigma * rng.standard_normal(n)), cap)


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row from row-specific probabilities (rows of ``probs``)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    below: np.ndarray = (u[:, None] > cum).sum(axis=1)
    return below.clip(max=probs.shape[1] - 1)


def _labels(
    values: tuple[str, ...] | list[str], index: np.ndarray, mask: np.ndarray | None = None
) -> pl.Series:
    """Strings gathered by index (null where ``mask`` is false)."""
    series = pl.Series(list(values), dtype=pl.String).gather(pl.Series(index.astype(np.int64)))
    if mask is None:
        return series
    both = pl.DataFrame({"v": series, "m": pl.Series(mask, dtype=pl.Boolean)})
    return both.select(pl.when("m").then("v")).to_series()


def _reason_labels() -> tuple[str, ...]:
    labels = [r for r in REASON_PARENT if r != FIT]
    labels += [f for f in dict.fromkeys(FIT_REASON.values()) if f not in labels]
    return tuple(labels)


#: Every 二级申请原因 the demo writes (FIT expanded to the families' fit reasons).
REASON_LABELS = _reason_labels()

_NAN = np.nan
Arrays = dict[str, np.ndarray]


class _Sim:
    """One generation run: the random stream, the rows' stores and application times.

    Hours are counted from ``start`` 00:00; ``now`` is the export time (end + 1 day 00:00), and
    everything after it has not happened yet.
    """

    def __init__(
        self, profiles: tuple[StoreProfile, ...], *, orders: int, start: date, seed: int
    ) -> None:
        self.profiles = profiles
        self.start = start
        self.now = HISTORY_DAYS * 24.0
        self.rng = rng = np.random.default_rng([seed, 2])
        scale = np.array([p.scale for p in profiles])
        counts = np.maximum(1, np.rint(orders * scale)).astype(np.int64)
        si = np.repeat(np.arange(len(profiles)), counts)
        n = si.size
        # Application time: day by volume, hour by the daily rhythm.
        volume, self.load = _day_weights(start)
        day = rng.choice(HISTORY_DAYS, size=n, p=volume / volume.sum())
        hour = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
        apply = day * 24.0 + hour + rng.random(n)
        order = np.lexsort((apply, si))
        self.si, self.apply, self.n = si[order], apply[order], n

    def param(self, field: str) -> np.ndarray:
        """A StoreProfile field per row."""
        return np.array([getattr(p, field) for p in self.profiles], dtype=np.float64)[self.si]


class DemoOptions(TypedDict, total=False):
    """The keyword arguments of :func:`generate`, passed on by :func:`write_demo` and
    :func:`ensure_demo`."""

    stores: int
    orders: int
    end: date | datetime | str | None
    seed: int
    dirty: bool


def generate(
    *,
    stores: int = 12,
    orders: int = 3000,
    end: date | datetime | str | None = None,
    seed: int = 7,
    dirty: bool = False,
) -> pl.DataFrame:
    """Generate demo service orders for ``stores`` stores over the 180 days ending at ``end``.

    Parameters
    ----------
    stores
        Number of stores; ids are ``"1000101"``, ``"1000102"``, …
    orders
        Mean service orders per store (each store is scaled 0.5–1.5× by its size).
    end
        Last day of data (default yesterday). Orders still running at ``end`` 24:00 are open.
    seed
        Same seed, same data.
    dirty
        Add duplicate rows from overlapping exports (DOMAIN §2); the text-level problems (null
        markers, mixed timestamp forms, scientific-notation IDs) are added by :func:`write_demo`.

    Returns
    -------
    pl.DataFrame
        The canonical schema (``schema.COLUMNS``), one row per service order, sorted by store and
        apply time. ``complete_time`` is the clock end of DOMAIN §3 (the cancellation for orders
        cancelled before the audit); ``jd_hours`` is JD's 售后整体时长(H).

    Examples
    --------
    >>> frame = generate(stores=2, orders=100, end="2026-06-30")
    >>> frame.group_by("store_id").len().sort("store_id").rows()
    [('1000101', 100), ('1000102', 80)]
    """
    _check_sizes(stores, orders)
    end_day = _parse_end(end)
    start = end_day - timedelta(days=HISTORY_DAYS - 1)
    sim = _Sim(store_profiles(stores, seed=seed), orders=orders, start=start, seed=seed)
    o = _outcomes(sim)
    o |= _audits(sim, o)
    o |= _returns(sim, o)
    o |= _processing(sim, o)
    o |= _clock(sim, o)
    frame = _frame(sim, o)
    if dirty:
        frame = _add_duplicates(frame, seed=seed)
    return frame


def _outcomes(sim: _Sim) -> Arrays:
    """What the customer asked for and what the merchant decided (cancel, reject, 返回方式)."""
    rng, n = sim.rng, sim.n
    family = np.array([FAMILIES.index(p.family) for p in sim.profiles])[sim.si]
    kind = _pick(rng, np.array([KIND_SHARES[p.family] for p in sim.profiles])[sim.si])
    refund_type = rng.choice(len(REFUND_TYPES), size=n, p=REFUND_TYPE_P)
    u = rng.random(n)
    cancel_rate = sim.param("cancel_rate")
    cancel = u < cancel_rate
    reject = ~cancel & (u < cancel_rate + sim.param("reject_rate"))
    cancel_early = cancel & (rng.random(n) < 0.45)
    closed = reject & (rng.random(n) < 0.2)  # 审核关闭 because the customer never answered

    # 返回方式 by kind; stores differ in how much they use 闪电退款.
    method = np.zeros(n, dtype=np.int64)
    flash_boost = sim.param("flash_boost")
    for k, (labels, weights) in KIND_METHODS.items():
        rows = np.flatnonzero(kind == k)
        w = np.tile(np.array(weights), (rows.size, 1))
        if "闪电退款" in labels:
            w[:, labels.index("闪电退款")] *= flash_boost[rows]
        method[rows] = np.array([METHODS.index(x) for x in labels])[_pick(rng, w)]
    reason = _draw_reasons(rng, kind, family)
    auto_refund = (method == M_NO_RETURN) & (rng.random(n) < sim.param("auto_share"))
    auto = ((method == M_FLASH) | auto_refund) & ~reject & ~cancel
    parent = np.array([REASON_PARENT.get(r, "七天无理由") for r in REASON_LABELS])
    return {
        "kind": kind,
        "refund_type": refund_type,
        "cancel": cancel,
        "cancel_early": cancel_early,
        "reject": reject,
        "closed": closed,
        "approved": ~cancel & ~reject,
        "method": method,
        "reason": reason,
        "quality": parent[reason] == QUALITY_PARENT,
        "auto": auto,
        "auto_refund": auto_refund & auto,
        # Direct compensation and re-shipping stop the clock at the first audit (DOMAIN §3).
        "audit_ended": (method >= M_COMP_FIRST) | (method == M_REISSUE),
    }


def _audits(sim: _Sim, o: Arrays) -> Arrays:
    """First audit: wait for staff (nights, weekends, Spring Festival), queue, 待客户反馈 rounds
    and JD intervention; plus cancellations."""
    rng, n, apply, start = sim.rng, sim.n, sim.apply, sim.start
    cancel, cancel_early, reject, closed = o["cancel"], o["cancel_early"], o["reject"], o["closed"]
    ws, we = sim.param("work_start"), sim.param("work_end")
    hod = apply % 24.0
    dayn = np.floor(apply / 24.0)
    on_duty = (hod >= ws) & (hod < we)
    ready = np.where(on_duty, apply, np.where(hod < ws, dayn * 24 + ws, (dayn + 1) * 24 + ws))
    rday = np.floor(ready / 24.0)
    rwd = (start.weekday() + rday) % 7
    weekend_wait = (rwd >= 5) & (rng.random(n) < sim.param("weekend_off"))
    ready = np.where(weekend_wait, (rday + 7 - rwd) * 24 + ws, ready)
    for h_from, h_to in SPRING_FESTIVALS:
        f0, f1 = (h_from - start).days * 24.0, (h_to - start).days * 24.0
        away = (apply >= f0) & (apply < f1) & (rng.random(n) < 0.85)
        back = f1 - rng.uniform(24.0, 96.0, n)  # staff return around 正月初六…初九
        ready = np.where(away, np.maximum(ready, back), ready)
    load_day = sim.load[np.minimum(np.floor(ready / 24.0).astype(np.int64), HISTORY_DAYS - 1)]
    trend = 1.0 + sim.param("audit_trend") * np.clip(apply / sim.now - 0.5, 0.0, None)
    queue_median = sim.param("audit_hours") * load_day * trend
    queue_median = np.where(ready > apply, queue_median * 1.3, queue_median)  # morning backlog
    audit_wait = ready - apply + _lognormal(rng, queue_median, 0.9, n, 240.0)
    audit_wait = np.where(o["auto"], rng.uniform(0.003, 0.08, n), audit_wait)

    # 待客户反馈 rounds: the clock keeps running while the customer answers.
    fp = sim.param("first_pass")
    rp = np.stack([fp, (1 - fp) * 0.65, (1 - fp) * 0.25, (1 - fp) * 0.10], axis=1)
    rounds = np.where(o["auto"], 0, _pick(rng, rp))
    rounds = np.where(closed, np.maximum(rounds, 1), rounds)
    answer = rng.gamma(np.maximum(rounds, 1), 14.0) * (rounds > 0)
    answer = np.where(closed, 72.0 + rng.uniform(0, 2, n), answer)  # auto-closed after 3 days
    rereview = rounds * _lognormal(rng, sim.param("audit_hours") * 0.5, 0.8, n, 72.0)
    audit_h = audit_wait + answer + rereview

    # JD intervention, mostly over rejections and quality disputes; a few hours each. Rare on
    # the rest so that JD's own hours differ from the export's for about 1 % of orders.
    jd_p = np.where(reject, 0.15, np.where(o["quality"], 0.02, 0.005))
    jd = ~cancel_early & (rng.random(n) < jd_p)
    unbounded = jd & (rng.random(n) < 0.1)
    dur = _lognormal(rng, 5.0, 0.6, n, 48.0)
    i_start = np.where(
        reject,
        apply + audit_h + rng.uniform(1.0, 24.0, n),
        apply + audit_wait * rng.uniform(0.2, 0.9, n),
    )
    audit_h = np.where(jd & ~reject, audit_h + dur, audit_h)  # the merchant waits for JD's ruling
    audit = apply + audit_h
    cancel_at = np.where(
        cancel_early,
        apply + audit_h * rng.uniform(0.1, 0.9, n),
        audit + _lognormal(rng, 10.0, 1.0, n, 96.0),
    )
    return {
        "audit": np.where(cancel_early, _NAN, audit),
        "cancel_at": np.where(cancel, cancel_at, _NAN),
        "rounds": rounds,
        "jd": jd,
        "unbounded": unbounded,
        # JD knows the interval even when the data does not (``unbounded``): jd_hours uses it.
        "jd_start": np.where(jd, i_start, _NAN),
        "jd_end": np.where(jd, i_start + dur, _NAN),
    }


def _returns(sim: _Sim, o: Arrays) -> Arrays:
    """Return logistics of approved orders: pickup or customer shipping, transit, inbound."""
    rng, n, method, audit = sim.rng, sim.n, o["method"], o["audit"]
    approved = o["approved"]
    by_pickup = approved & np.isin(method, [M_PICKUP, M_FLASH, M_SWAP])
    by_ship = approved & (method == M_SHIP)
    by_send = approved & (method == M_SEND)
    pickup_hours = sim.param("pickup_hours")
    pickup_wait = _lognormal(rng, pickup_hours, 0.6, n, 200.0)
    swap_wait = _lognormal(rng, pickup_hours * 2, 0.5, n, 200.0)
    pickup_wait = np.where(method == M_SWAP, swap_wait, pickup_wait)
    pickup_wait += (rng.random(n) < 0.05) * rng.uniform(48.0, 96.0, n)  # customer not at home
    pickup = np.where(by_pickup, audit + pickup_wait, _NAN)
    ship_wait = _lognormal(rng, sim.param("ship_hours"), 0.8, n, 240.0)
    ship = np.where(by_ship, audit + ship_wait, _NAN)
    ship = np.where(by_send, audit + _lognormal(rng, 20.0, 0.6, n, 120.0), ship)
    rstart = np.where(by_pickup, pickup, ship)

    cheap = sim.param("cheap_carriers")
    carrier_p = np.tile(CUSTOMER_CARRIER_P, (n, 1))
    carrier_p[:, 2:] *= (1.0 + 3.0 * cheap)[:, None]
    carrier = np.where(rng.random(n) < 0.92, 0, 1)  # pickups: JD's own couriers, some SF
    carrier = np.where(by_ship, _pick(rng, carrier_p), carrier)
    region = _pick_region(rng, n)
    remote = np.array([r[4] for r in REGIONS])[region]
    transit = _lognormal(
        rng, CARRIER_TRANSIT_MEDIAN[carrier] * np.where(remote, 1.8, 1.0), 0.35, n, 400.0
    )
    transit += (rng.random(n) < 0.03) * rng.uniform(72.0, 192.0, n)  # lost or stuck parcels
    transit = np.where(by_send, rng.uniform(0.3, 3.0, n), transit)
    sign_true = rstart + transit
    tracking = rstart + _lognormal(rng, 2.0, 1.0, n, 24.0)
    tracking += (rng.random(n) < 0.03) * rng.uniform(48.0, 120.0, n)  # tracking goes stale
    tracking = np.where((by_pickup | by_ship) & (rng.random(n) > 0.02), tracking, _NAN)

    inbound_wait = _lognormal(rng, sim.param("inbound_hours"), 0.9, n, 120.0)
    inbound_wait += (rng.random(n) < 0.02) * rng.uniform(24.0, 96.0, n)  # parcel mislaid
    backlog_days = sim.param("backlog_days")
    in_backlog = (backlog_days > 0) & (sign_true >= sim.now - backlog_days * 24.0)
    inbound_wait += (in_backlog & (rng.random(n) < 0.75)) * rng.uniform(30.0, 120.0, n)
    returns = by_pickup | by_ship | by_send
    # Rare scanner errors: the sign scan predates the hand-over.
    misscan = returns & (rng.random(n) < 0.002)
    sign = np.where(misscan, rstart - rng.uniform(1.0, 12.0, n), sign_true)
    return {
        "pickup": pickup,
        "ship": np.where(by_pickup, _NAN, ship),
        "carrier": carrier,
        "has_carrier": by_pickup | by_ship,
        "region": region,
        "tracking": tracking,
        "sign": np.where(returns, sign, _NAN),
        "inbound": np.where(returns, sign_true + inbound_wait, _NAN),
    }


def _processing(sim: _Sim, o: Arrays) -> Arrays:
    """First processing (refund, replacement, repair, compensation) and its 处理结果."""
    rng, n, method, kind = sim.rng, sim.n, o["method"], o["kind"]
    pf = sim.param("process_factor")
    repair = rng.choice(len(REPAIR_RESULTS), size=n, p=REPAIR_RESULT_P)
    exchange = rng.choice(len(EXCHANGE_RESULTS), size=n, p=EXCHANGE_RESULT_P)
    compensated = method >= M_COMP_FIRST
    at_audit = compensated | np.isin(method, [M_NO_RETURN, M_REISSUE])
    at_pickup = method == M_FLASH
    swap = method == M_SWAP
    result = np.select(
        [compensated, at_audit, method == M_SWAP, kind == K_EXCHANGE, kind == K_REPAIR],
        [P_COMP, -1, P_NEW, np.array(EXCHANGE_RESULTS)[exchange], np.array(REPAIR_RESULTS)[repair]],
        default=P_RETURN,
    )
    median = np.select(
        [at_pickup, method == M_NO_RETURN, at_audit, kind == K_REPAIR, kind == K_EXCHANGE],
        [np.where(method == M_FLASH, 0.1, 0.2), pf, 2.0 * pf, REPAIR_HOURS[repair] * pf, 8.0 * pf],
        default=2.0 * pf,
    )
    wait = _lognormal(rng, median, 0.9, n, 360.0)
    # 上门换新: the merchant sends the replacement first (processing, the clock stops); the
    # courier delivering it takes the old item back, so the pickup comes after the clock end.
    swap_process = o["audit"] + SWAP_PROCESS_SHARE * (o["pickup"] - o["audit"])
    process = np.select(
        [at_pickup, swap, at_audit],
        [o["pickup"] + wait, swap_process, o["audit"] + wait],
        default=o["inbound"] + wait,
    )
    # The replacement or repaired item travels back: 待用户确认 until it arrives.
    delivery = _lognormal(rng, 50.0, 0.4, n, 200.0)
    sends_back = np.isin(kind, [K_EXCHANGE, K_REPAIR]) & ~compensated
    delivered = np.where(sends_back, process + delivery, process)
    return {
        "process": np.where(o["approved"], process, _NAN),
        "result": result,
        "delivered": np.where(swap, o["pickup"], delivered),
    }


def _clock(sim: _Sim, o: Arrays) -> Arrays:
    """Everything after the export time has not happened yet; then 暂完结 and 服务单状态."""
    rng, n, now = sim.rng, sim.n, sim.now

    def seen(hours: np.ndarray) -> np.ndarray:
        return np.where(hours < now, hours, _NAN)

    audit, process = seen(o["audit"]), seen(o["process"])
    is_cancel = o["cancel"] & (o["cancel_at"] < now)
    # 暂完结 is the clock end (DOMAIN §3): a cancellation before the audit has only its own time.
    stops_at_audit = o["reject"] | o["audit_ended"] | o["cancel"]
    complete = np.where(stops_at_audit, audit, process)
    complete = np.where(o["cancel_early"], o["cancel_at"], complete)
    complete = np.where(o["cancel"] & ~is_cancel, _NAN, seen(complete))

    audited = ~np.isnan(audit)
    processed = ~np.isnan(process)
    # 上门换新 waits for the merchant's replacement (待处理), not for the old item.
    awaiting_item = np.isin(o["method"], [M_PICKUP, M_SHIP, M_SEND, M_FLASH])
    awaiting_item &= ~(o["inbound"] < now)
    status = np.select(
        [
            is_cancel,
            o["reject"] & audited,
            ~audited & (o["rounds"] > 0),
            ~audited,
            processed & (o["delivered"] >= now),
            processed,
            awaiting_item,
        ],
        [S_CANCEL, S_CLOSED, S_FEEDBACK, S_AUDIT, S_CONFIRM, S_DONE, S_RECEIVE],
        default=S_PROCESS,
    )
    # Some approved orders are audited again later (a changed 返回方式, a customer's question).
    again = o["approved"] & (rng.random(n) < REAUDIT_P)
    last = audit + again * _lognormal(rng, 8.0, 1.0, n, 120.0)
    last = np.where(last < now, last, audit)
    jd = o["jd"] & ~o["cancel_early"]
    return {
        "audit": audit,
        "last_audit": last,
        "process": process,
        "complete": complete,
        "status": status,
        "audited": audited,
        "jd_flag": jd & (o["jd_start"] < now),
        "i_start": seen(np.where(o["unbounded"], _NAN, o["jd_start"])),
        "i_end": seen(np.where(o["unbounded"], _NAN, o["jd_end"])),
    }


def _frame(sim: _Sim, o: Arrays) -> pl.DataFrame:
    """The canonical frame, with JD's own hours computed from the written timestamps."""
    rng, n, si, start = sim.rng, sim.n, sim.si, sim.start
    stores = len(sim.profiles)
    kind, method = o["kind"], o["method"]
    processed = ~np.isnan(o["process"])
    times = {
        "apply_time": sim.apply,
        "first_audit_time": o["audit"],
        "last_audit_time": o["last_audit"],
        "pickup_time": o["pickup"],
        "customer_ship_time": o["ship"],
        "logistics_update_time": o["tracking"],
        "sign_time": o["sign"],
        "inbound_time": o["inbound"],
        "first_process_time": o["process"],
        "complete_time": o["complete"],
        "intervention_start": o["i_start"],
        "intervention_end": o["i_end"],
        "_jd_start": o["jd_start"],
        "_jd_end": o["jd_end"],
    }
    # Everything after the export time has not happened yet.
    times = {k: np.where(v < sim.now, v, _NAN) for k, v in times.items()}
    service_type = np.select(
        [kind == K_RETURN, kind == K_EXCHANGE, kind == K_REPAIR, kind == K_REISSUE],
        [0, 1, 2, 3],
        default=4 + o["refund_type"],
    )
    # The merchant's own decisions are unknown before the audit; the customer's choice is not.
    decided = o["audit_ended"] | (method == M_FLASH)
    shown_method = ~(decided & ~o["audited"])
    approve = np.where(o["reject"], 1, 0)
    goods = _goods(rng, si, [p.family for p in sim.profiles])
    has_return = ~np.isnan(times["pickup_time"]) | ~np.isnan(times["customer_ship_time"])
    carried = o["has_carrier"] & has_return
    frame = pl.DataFrame(
        {
            **_identities(rng, sim.apply),
            "store_id": _labels([store_id(i) for i in range(stores)], si),
            "store_name": _labels([p.name for p in sim.profiles], si),
            **goods,
            "service_type": _labels(SERVICE_TYPES, service_type),
            **_reasons(rng, o["reason"]),
            "return_method": _labels(METHODS, method, shown_method),
            "approve_result": _labels((APPROVED, REJECTED), approve, o["audited"]),
            "process_result": _labels(
                PROCESS_RESULTS, np.maximum(o["result"], 0), processed & (o["result"] >= 0)
            ),
            "flash_refund": pl.Series(shown_method & (method == M_FLASH)),
            "status": _labels(STATUSES, o["status"]),
            **{k: _hours_to_datetime(v, start) for k, v in times.items()},
            "carrier": _labels(CARRIERS, o["carrier"], carried),
            "waybill_no": _waybills(rng, o["carrier"], carried),
            "jd_intervened": pl.Series(o["jd_flag"]),
            "feedback_rounds": pl.Series(o["rounds"].astype(np.int32)),
            "_stop_at_audit": pl.Series(o["audit_ended"] | o["reject"] | o["cancel"]),
            **_people(rng, sim, o, processed),
            **_customers(rng, n, o["region"]),
        }
    )
    frame = frame.with_columns(
        refund_amount=_refund_amounts(rng, frame, o),
        jd_hours=_jd_hours(),
    )
    # A column the simulation does not fill (自动审核类型) is all null, as in an export without it.
    return frame.select(
        (pl.col(c) if c in frame.columns else pl.lit(None)).cast(t).alias(c)
        for c, t in COLUMNS.items()
    )


def _jd_hours() -> pl.Expr:
    """JD's 售后整体时长(H): clock end − apply, minus the intervention JD knows of (DOMAIN §3),
    rounded to 0.01 h as the export shows it; null while the clock runs."""
    end = pl.when("_stop_at_audit").then("first_audit_time").otherwise("first_process_time")
    gross = (end - pl.col("apply_time")).dt.total_seconds() / 3600
    overlap = (
        pl.min_horizontal("_jd_end", end) - pl.max_horizontal("_jd_start", "apply_time")
    ).dt.total_seconds() / 3600
    subtract = (
        pl.when(~pl.col("_stop_at_audit") & pl.col("_jd_end").is_not_null())
        .then(overlap.clip(lower_bound=0))
        .otherwise(0.0)
    )
    return pl.when(pl.col("complete_time").is_not_null()).then((gross - subtract).round(2))


def _identities(rng: np.random.Generator, apply: np.ndarray) -> dict[str, pl.Series]:
    """服务单号 (10 digits) and 订单号 (12, some 16 digits): JD numbers grow with time."""
    n = apply.size
    by_time = np.argsort(apply, kind="stable")
    service_num = np.empty(n, dtype=np.int64)
    service_num[by_time] = 1_583_000_000 + np.cumsum(rng.integers(1, 60, n))
    order_num = (2.9e11 + (apply - rng.uniform(24.0, 360.0, n)) * 2.4e6).astype(np.int64)
    order_num += rng.integers(0, 999, n)
    # Some order numbers have 16 digits: more than Excel keeps, so they must stay text cells.
    long = rng.random(n) < 0.08
    order_num = np.where(long, order_num * 10_000 + rng.integers(0, 10_000, n), order_num)
    return {
        "service_id": pl.Series(service_num).cast(pl.String),
        "order_id": pl.Series(order_num).cast(pl.String),
    }


def _goods(rng: np.random.Generator, si: np.ndarray, families: list[str]) -> dict[str, pl.Series]:
    """SKU (a few best sellers per store), quantity and 商品金额."""
    family_idx = np.array([FAMILIES.index(f) for f in families])[si]
    n = si.size
    sku_offsets = np.cumsum([0] + [len(CATALOGUE[f]) for f in FAMILIES])
    sizes = np.array([len(CATALOGUE[f]) for f in FAMILIES])[family_idx]
    sku_local = np.minimum((rng.pareto(1.2, n) * sizes / 4).astype(np.int64), sizes - 1)
    sku = sku_offsets[family_idx] + sku_local
    skus = [item for f in FAMILIES for item in CATALOGUE[f]]
    prices = np.array([item[2] for item in skus])
    quantity = np.where(rng.random(n) < 0.9, 1, rng.integers(2, 4, n))
    return {
        "sku_id": pl.Series(100_012_000_000 + sku * 7_919 + 31).cast(pl.String),
        "sku_name": _labels([s[0] for s in skus], sku),
        "category": _labels([s[1] for s in skus], sku),
        "quantity": pl.Series(quantity.astype(np.int32)),
        "amount": pl.Series(np.round(prices[sku] * quantity, 2)),
    }


def _refund_amounts(rng: np.random.Generator, frame: pl.DataFrame, o: Arrays) -> pl.Series:
    """退款金额: returns and refunds (refunds often partial), and 直赔余额 compensation."""
    n, kind, method = frame.height, o["kind"], o["method"]
    amount = frame["amount"].to_numpy()
    refunding = np.isin(method, [M_PICKUP, M_SHIP, M_FLASH, M_SEND, M_NO_RETURN])
    refunding &= np.isin(kind, [K_RETURN, K_REFUND]) & o["approved"]
    partial = np.where(kind == K_REFUND, rng.choice([0.1, 0.2, 0.3, 0.5, 1.0], n), 1.0)
    balance = (method == M_BALANCE) & o["approved"]
    refund = np.where(
        refunding, amount * partial, np.where(balance, amount * rng.uniform(0.05, 0.3, n), _NAN)
    )
    return pl.Series(np.round(refund, 2), nan_to_null=True)


def _people(
    rng: np.random.Generator, sim: _Sim, o: Arrays, processed: np.ndarray
) -> dict[str, pl.Series]:
    """审核人姓名, 处理人 (each store has its own small team) and 下单账号."""
    si, n, stores = sim.si, sim.n, len(sim.profiles)
    staff = np.array([p.staff for p in sim.profiles])[si]
    team = np.array([(i * 5) % len(AUDITORS) for i in range(stores)])[si]
    auditor_idx = (team + rng.integers(0, staff)) % len(AUDITORS)
    auditor_idx = np.where(o["auto"], len(AUDITORS), auditor_idx)
    crew = np.array([(i * 3) % len(PROCESSORS) for i in range(stores)])[si]
    processor_idx = (crew + rng.integers(0, np.minimum(staff, 4))) % len(PROCESSORS)
    platform = (o["method"] == M_FLASH) | o["auto_refund"]
    processor_idx = np.where(platform, len(PROCESSORS), processor_idx)
    # 下单账号 as JD shows it: jd_ and 12 hex digits, gathered three at a time (fast).
    triples = [f"{i:03x}" for i in range(16**3)]
    parts = [_labels(triples, rng.integers(0, 16**3, n)) for _ in range(4)]
    return {
        "auditor": _labels((*AUDITORS, AUTO_AUDITOR), auditor_idx, o["audited"]),
        "processor": _labels((*PROCESSORS, AUTO_PROCESSOR), processor_idx, processed),
        "buyer_account": pl.select(pl.concat_str(pl.lit("jd_"), *parts)).to_series(),
    }


def _draw_reasons(rng: np.random.Generator, kind: np.ndarray, family: np.ndarray) -> np.ndarray:
    """二级申请原因 per row as an index into REASON_LABELS; FIT depends on the family."""
    fit_index = np.array([REASON_LABELS.index(FIT_REASON[f]) for f in FAMILIES])
    idx = np.zeros(kind.size, dtype=np.int64)
    for k, (reasons, weights) in REASONS.items():
        rows = np.flatnonzero(kind == k)
        draw = rng.choice(len(reasons), size=rows.size, p=np.array(weights) / sum(weights))
        mapped = np.array([REASON_LABELS.index(r) if r != FIT else -1 for r in reasons])[draw]
        idx[rows] = np.where(mapped < 0, fit_index[family[rows]], mapped)
    return idx


def _reasons(rng: np.random.Generator, idx: np.ndarray) -> dict[str, pl.Series]:
    """一级/二级申请原因 and 客户问题描述 (often empty; a few carry the customer's phone)."""
    n = idx.size
    parents = [REASON_PARENT.get(r, REASON_PARENT[FIT]) for r in REASON_LABELS]
    texts = [DESCRIPTIONS.get(r, DESCRIPTIONS[FIT]) for r in REASON_LABELS]
    per = len(texts[0])  # every reason has the same number of texts
    u = rng.random(n)
    description = _labels([t for ts in texts for t in ts], idx * per + rng.integers(0, per, n))
    phone = pl.concat_str(
        _labels(PHONE_PREFIXES, rng.integers(0, len(PHONE_PREFIXES), n)),
        pl.Series(rng.integers(0, 10**8, n)).cast(pl.String).str.zfill(8),
    )
    with_phone = pl.Series(u >= 1 - PHONE_IN_DESCRIPTION_P)
    described = pl.select(
        pl.when(pl.lit(pl.Series(u < EMPTY_DESCRIPTION_P)))
        .then(pl.lit(None, dtype=pl.String))
        .when(with_phone)
        .then(pl.concat_str(description, pl.lit("，急用请联系"), phone))
        .otherwise(description)
    ).to_series()
    return {
        "reason": _labels(parents, idx),
        "reason_detail": _labels(REASON_LABELS, idx),
        "description": described,
    }


def _pick_region(rng: np.random.Generator, n: int) -> np.ndarray:
    weights = np.array([r[3] for r in REGIONS])
    return rng.choice(len(REGIONS), size=n, p=weights / weights.sum())


def _hours_to_datetime(hours: np.ndarray, start: date) -> pl.Series:
    """Hours since ``start`` 00:00 → naive datetimes, whole seconds as in JD exports."""
    base_s = (start - date(1970, 1, 1)).days * 86_400
    seconds = pl.Series(np.floor(hours * 3600.0), nan_to_null=True).cast(pl.Int64) + base_s
    return (seconds * 1_000_000).cast(DATETIME)


def _waybills(rng: np.random.Generator, carrier: np.ndarray, mask: np.ndarray) -> pl.Series:
    """Tracking numbers in each carrier's usual shape."""
    prefix = _labels(("JDVA", "SF1", "78", "YT", "43", "77"), carrier, mask)
    digits = pl.Series(rng.integers(10**11, 10**12, carrier.size)).cast(pl.String)
    return pl.select(pl.concat_str(prefix, digits)).to_series()


def _customers(rng: np.random.Generator, n: int, region: np.ndarray) -> dict[str, pl.Series]:
    """Fake but plausible names, mobile numbers, addresses, 省 and 市."""
    surname = _labels(SURNAMES, rng.integers(0, len(SURNAMES), n))
    given1 = _labels(GIVEN, rng.integers(0, len(GIVEN), n))
    given2 = _labels(GIVEN, rng.integers(0, len(GIVEN), n), rng.random(n) < 0.7)
    phone = _labels(PHONE_PREFIXES, rng.integers(0, len(PHONE_PREFIXES), n))
    phone_tail = pl.Series(rng.integers(0, 10**8, n)).cast(pl.String).str.zfill(8)
    places = [
        (f"{prov}{district}" if prov == city else f"{prov}{city}{district}", w / len(districts), i)
        for i, (prov, city, districts, w, _) in enumerate(REGIONS)
        for district in districts
    ]
    # District within the already-drawn region, uniformly.
    district_idx = np.empty(n, dtype=np.int64)
    start = 0
    for i, (_, _, districts, _, _) in enumerate(REGIONS):
        rows = region == i
        district_idx[rows] = start + rng.integers(0, len(districts), int(rows.sum()))
        start += len(districts)
    place = _labels([p[0] for p in places], district_idx)
    street = _labels(STREETS, rng.integers(0, len(STREETS), n))
    community = _labels(COMMUNITIES, rng.integers(0, len(COMMUNITIES), n))
    frame = pl.DataFrame(
        {
            "s": surname,
            "g1": given1,
            "g2": given2,
            "p": phone,
            "pt": phone_tail,
            "place": place,
            "street": street,
            "community": community,
            "no": pl.Series(rng.integers(1, 400, n)),
            "b": pl.Series(rng.integers(1, 30, n)),
            "u": pl.Series(rng.integers(1, 5, n)),
            "room": pl.Series(rng.integers(1, 33, n) * 100 + rng.integers(1, 5, n)),
        }
    )
    out = frame.select(
        customer_name=pl.concat_str("s", "g1", pl.col("g2").fill_null("")),
        customer_phone=pl.concat_str("p", "pt"),
        address=pl.concat_str(
            "place",
            "street",
            "no",
            pl.lit("号"),
            "community",
            pl.lit("小区"),
            "b",
            pl.lit("栋"),
            "u",
            pl.lit("单元"),
            "room",
        ),
    )
    return {
        **{c: out[c] for c in out.columns},
        "province": _labels([r[0] for r in REGIONS], region),
        "city": _labels([r[1] for r in REGIONS], region),
    }


def _add_duplicates(frame: pl.DataFrame, *, seed: int) -> pl.DataFrame:
    """Overlapping downloads: exact repeats, earlier snapshots, and re-completed orders."""
    rng = np.random.default_rng([seed, 3])
    n = frame.height
    k = max(3, n // 50)
    picks = rng.choice(n, size=min(3 * k, n), replace=False)
    exact = frame[picks[:k]]
    # A download taken before the processing: no 处理 columns, no clock end yet.
    processed = (
        pl.col("status").is_in(["完成", "待用户确认"])
        & pl.col("process_result").is_not_null()
        & (pl.col("process_result") != "赔付")
    )
    snapshot = (
        frame[picks[k : 2 * k]]
        .filter(processed)
        .with_columns(
            pl.lit(None, dtype=DATETIME).alias("first_process_time"),
            pl.lit(None, dtype=DATETIME).alias("complete_time"),
            pl.lit(None, dtype=pl.Float64).alias("jd_hours"),
            pl.lit(None, dtype=pl.String).alias("process_result"),
            pl.lit(None, dtype=pl.String).alias("processor"),
            status=pl.lit("待处理"),
        )
    )
    # A reopened order completed again later (data from another system): the later row wins.
    later = (
        frame[picks[2 * k :]]
        .filter(pl.col("complete_time").is_not_null())
        .with_columns(complete_time=pl.col("complete_time") + pl.duration(hours=30))
    )
    combined = pl.concat([frame, exact, snapshot, later])
    # Keep the original row order overall but interleave the extra rows where downloads overlap.
    extra = combined.height - n
    position = np.concatenate([np.arange(n, dtype=np.float64), rng.uniform(0, n, extra)])
    return (
        combined.with_columns(_pos=pl.Series(position))
        .sort("store_id", "_pos", maintain_order=True)
        .drop("_pos")
    )


# --- writing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoFiles:
    """What :func:`write_demo` wrote."""

    out: Path
    exports: Path  # the folder a merchant would pass as data: the downloads and stores.toml
    stores_toml: Path
    xlsx: tuple[Path, ...]
    parquet: Path
    rows: int
    stores: tuple[str, ...]
    #: ``dirty`` only: one store's download as the old FBP GBK CSV re-saved with ``="…"`` cells
    csv: tuple[Path, ...] = ()

    @property
    def paths(self) -> tuple[Path, ...]:
        return (*self.xlsx, *self.csv, self.stores_toml, self.parquet)


#: Columns whose empty cells a dirty download fills with a null marker (never IDs, never the
#: enumerations the scene depends on).
_MARKER_COLUMNS = frozenset(
    (
        "reason_detail",
        "description",
        "process_result",
        "auditor",
        "processor",
        "carrier",
        "waybill_no",
        "province",
        "city",
        "last_audit_time",
        "pickup_time",
        "inbound_time",
        "first_process_time",
    )
)
#: JD shows a zero timestamp as the epoch in China time; a dirty download has a few.
EPOCH_ZERO = "1970-01-01 08:00:00"


def export_file_name(store_name: str, *, end: date) -> str:
    """The name of one store's 京麦 download, e.g. ``示例旗舰店_售后服务单_20251130.xlsx``."""
    return f"{store_name}_售后服务单_{end:%Y%m%d}.xlsx"


def stores_toml(stores: Mapping[str, str]) -> str:
    """A ``stores.toml`` giving each store's downloads (by file-name glob) its id and name."""
    lines = [
        "# Which store each 京麦 download belongs to (DOMAIN §2, store identity).",
        "# Globs are relative to this folder.",
    ]
    for sid, name in stores.items():
        # any extension: a dirty demo writes one store as the old FBP .csv
        glob = export_file_name(name, end=date(2000, 1, 1)).replace("20000101.xlsx", "*")
        lines += [
            "",
            f"[stores.{_toml_string(sid)}]",
            f"name = {_toml_string(name)}",
            f"files = [{_toml_string(glob)}]",
        ]
    return "\n".join(lines) + "\n"


def _toml_string(text: str) -> str:
    # A JSON string is a valid TOML basic string.
    return json.dumps(text, ensure_ascii=False)


def write_demo(out: Path | str, **generate_kwargs: Unpack[DemoOptions]) -> DemoFiles:
    """Generate demo data and write it as a merchant has it.

    Writes ``out/exports/<store name>_售后服务单_<end>.xlsx`` per store (the 京麦 自主售后 export:
    two-row header, no store column, no 暂完结时间, text IDs), ``out/exports/stores.toml`` naming
    the store of each file, and ``out/_canonical/all_stores.parquet`` (canonical columns, every
    store: the same orders as the downloads, an alternative to them that a load of ``out`` skips).
    With ``dirty=True`` the xlsx files carry the odd forms of DOMAIN §2. Earlier demo downloads in
    ``out/exports`` are removed first, so a rerun for another end date does not leave two.

    Parameters
    ----------
    out
        Folder to write into (created when missing).
    **generate_kwargs
        Passed to :func:`generate` (``stores``, ``orders``, ``end``, ``seed``, ``dirty``).

    Returns
    -------
    DemoFiles
        The paths written, the row count and the store ids.
    """
    out = Path(out)
    seed = generate_kwargs.get("seed", 7)
    frame = generate(**generate_kwargs)
    end_day = _parse_end(generate_kwargs.get("end"))
    exports = out / EXPORTS_DIR
    exports.mkdir(parents=True, exist_ok=True)
    for old in [*exports.glob("*_售后服务单_*.xlsx"), *exports.glob("*_售后服务单_*.csv")]:
        old.unlink()
    cells = _dirty_cells(frame, seed=seed) if generate_kwargs.get("dirty") else frame
    names = dict(frame.select("store_id", "store_name").unique(maintain_order=True).iter_rows())
    dirty = bool(generate_kwargs.get("dirty"))
    # A dirty demo of two or more stores has its last store as the old FBP CSV, re-saved by a
    # tool that wrapped headers and IDs as ="…" (the loader's CSV path gets exercised too).
    as_csv = list(names)[-1] if dirty and len(names) > 1 else None
    xlsx, csv = [], []
    for sid, name in names.items():
        rows = cells.filter(pl.col("store_id") == sid)
        path = exports / export_file_name(name, end=end_day)
        if sid == as_csv:
            csv.append(write_fbp_csv(rows, path.with_suffix(".csv"), excel_text=True))
            continue
        write_jingmai_xlsx(rows, path, dirty=dirty)
        xlsx.append(path)
    toml_path = exports / STORES_TOML
    toml_path.write_text(stores_toml(names), encoding="utf-8")
    parquet = out / CANONICAL_DIR / PARQUET_NAME
    parquet.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(parquet, compression="zstd", compression_level=1)
    return DemoFiles(
        out, exports, toml_path, tuple(xlsx), parquet, frame.height, tuple(names), tuple(csv)
    )


def _dirty_cells(frame: pl.DataFrame, *, seed: int) -> pl.DataFrame:
    """The frame as the text a dirty download shows: timestamps in mixed forms
    (``YYYY/MM/DD HH:MM[:SS]``, 13-digit epoch milliseconds, a few epoch-zero cells), empty cells
    as ``-``, ``--`` or ``无``, and a few order ids already mangled to scientific notation."""
    rng = np.random.default_rng([seed, 4])
    n = frame.height
    form = rng.choice(4, size=n, p=[0.93, 0.03, 0.02, 0.02])  # 0 keep, 1 minutes, 2 seconds, 3 ms
    form[rng.choice(n, size=min(n, 3), replace=False)] = np.array([1, 2, 3])[: min(n, 3)]
    sci = rng.random(n) < 0.003
    sci[rng.choice(n, size=min(n, 2), replace=False)] = True
    zero = rng.random(n) < 0.002
    zero[rng.choice(n, size=min(n, 2), replace=False)] = True
    markers = _labels(("-", "--", "无", ""), rng.choice(4, size=n, p=[0.5, 0.2, 0.2, 0.1]))
    helper = pl.DataFrame({"_form": form, "_sci": sci, "_zero": zero, "_marker": markers})
    wide = pl.concat([frame, helper], how="horizontal")
    exprs = []
    for c, dtype in frame.schema.items():
        col = pl.col(c)
        if dtype == DATETIME:
            epoch_ms = col.dt.epoch("ms") - 8 * 3600 * 1000  # China time → UTC instant
            text = (
                pl.when(pl.col("_form") == 1)
                .then(col.dt.strftime("%Y/%m/%d %H:%M"))
                .when(pl.col("_form") == 2)
                .then(col.dt.strftime("%Y/%m/%d %H:%M:%S"))
                .when(pl.col("_form") == 3)
                .then(epoch_ms.cast(pl.String))
                .otherwise(col.dt.strftime("%Y-%m-%d %H:%M:%S"))
            )
            if c == "pickup_time":
                text = (
                    pl.when(col.is_null() & pl.col("_zero"))
                    .then(pl.lit(EPOCH_ZERO))
                    .otherwise(text)
                )
        elif c == "order_id":
            text = (
                pl.when(pl.col("_sci"))
                .then(
                    pl.concat_str(
                        col.str.slice(0, 1),
                        pl.lit("."),
                        col.str.slice(1, 5),
                        pl.lit("E+"),
                        (col.str.len_chars() - 1).cast(pl.String),
                    )
                )
                .otherwise(col)
            )
        elif dtype == pl.String and c in _MARKER_COLUMNS:
            text = col
        else:
            exprs.append(col)
            continue
        if c in _MARKER_COLUMNS:
            marker = pl.col("_marker")
            text = pl.when(text.is_null() & (marker != "")).then(marker).otherwise(text)
        exprs.append(text.alias(c))
    return wide.select(exprs)


END_MARKER = ".demo-end"


def _stale(out: Path, generate_kwargs: DemoOptions) -> bool:
    """A default demo written before yesterday would leave the default report window empty."""
    if "end" in generate_kwargs:
        return False
    try:
        written_end = date.fromisoformat((out / END_MARKER).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return False  # not made by ensure_demo (e.g. `aftersales demo --end …`): leave it alone
    return written_end < _parse_end(None)


def _ready(out: Path) -> bool:
    """A complete demo: the parquet is written last."""
    return (out / CANONICAL_DIR / PARQUET_NAME).exists() and (
        out / EXPORTS_DIR / STORES_TOML
    ).exists()


def _replace(src: Path, dst: Path) -> None:
    """Move ``src`` onto ``dst``; a folder replaces an existing one (os.replace cannot)."""
    if not (src.is_dir() and dst.exists()):
        os.replace(src, dst)
        return
    old = dst.parent / f".{dst.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    os.replace(dst, old)
    try:
        os.replace(src, dst)
    finally:
        shutil.rmtree(old, ignore_errors=True)


def default_dir() -> Path:
    """Where the default demo lives: ``data/demo`` of the source checkout (wherever a command or a
    Jupyter kernel runs), else ``data/demo`` under the working directory (an installed wheel)."""
    root = checkout_root()
    return DEFAULT_OUT if root is None else root / DEFAULT_OUT


def ensure_demo(out: Path | None = None, **generate_kwargs: Unpack[DemoOptions]) -> Path:
    """Return the demo's ``out/exports`` folder (the 京麦 downloads and their ``stores.toml``),
    generating the default demo (end = yesterday) if missing.

    Callers pass the folder as a data path. ``generate_kwargs`` (e.g. a smaller ``orders`` in
    tests) are passed to :func:`write_demo`; the canonical parquet sits at
    ``out/_canonical/all_stores.parquet``.

    A demo that ``ensure_demo`` generated on an earlier day is regenerated, so the default
    report (window ending yesterday) always has current data.

    Generation happens in a private temporary folder that is renamed into place, so two processes
    starting at once never see (or write) a half-written demo: the first rename wins and the other
    process discards its copy.
    """
    out = default_dir() if out is None else Path(out)
    exports = out / EXPORTS_DIR
    if _ready(out) and not _stale(out, generate_kwargs):
        return exports
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        files = write_demo(tmp, **generate_kwargs)
        end_day = _parse_end(generate_kwargs.get("end"))
        (files.out / END_MARKER).write_text(end_day.isoformat(), encoding="utf-8")
        try:
            os.rename(tmp, out)  # atomic; replaces only a missing or empty folder
        except OSError:
            if _ready(out) and not _stale(out, generate_kwargs):
                return exports  # another process finished first
            # ``out`` holds other files: move ours in one by one, the parquet last.
            out.mkdir(parents=True, exist_ok=True)
            for path in sorted(tmp.iterdir(), key=lambda p: p.name == CANONICAL_DIR):
                _replace(path, out / path.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return exports
