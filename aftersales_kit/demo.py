"""Realistic demo data: JD after-sales service orders (服务单) for several stores.

The generator simulates each order's life (application → audit → return shipping → transit →
signing → inbound → processing → provisional completion) with numpy, vectorised over all rows, so
a million orders take seconds. Stores differ on purpose (staffing, warehouse, product mix) so their
reports tell different stories:

- ``1000101`` 示例旗舰店: ordinary; evening and weekend audits lag, a few transit and inbound tails.
- ``1000102`` 优品数码专营店: understaffed customer service, audits take about 40 h on average.
- ``1000103`` 家居生活馆: a warehouse backlog in the last month (inbound takes days).
- ``1000104`` 母婴优选店: excellent (fast audits, flash refunds, mean well under 24 h).
- further stores: varied characters (apparel exchanges, slow repairs, cheap carriers, a worsening
  trend, many 待客户反馈 rounds, late pickups), then randomised ones.

``--dirty`` adds the export problems of DOMAIN §2 to the written files so the loader's validation
has something to report.
"""

from __future__ import annotations

import argparse
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from aftersales_kit.errors import UsageError
from aftersales_kit.schema import ALIASES, COLUMNS, DATETIME

HISTORY_DAYS = 180
FIRST_STORE_ID = 1000101
MAX_STORES = 899  # keeps store ids at 7 digits (1000101 … 1000999)
SHEET_NAME = "服务单明细"
PARQUET_NAME = "all_stores.parquet"
CSV_NAME = "all_stores.csv"
DEFAULT_OUT = Path("data/demo")
EXCEL_DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"

#: Spring Festival exemption windows of DOMAIN §3 ([from, to), dates): staff are away, audits wait.
SPRING_FESTIVALS: tuple[tuple[date, date], ...] = (
    (date(2024, 2, 4), date(2024, 2, 19)),
    (date(2025, 1, 24), date(2025, 2, 7)),
    (date(2026, 2, 12), date(2026, 2, 26)),
    (date(2027, 2, 1), date(2027, 2, 15)),
    (date(2028, 1, 21), date(2028, 2, 4)),
)

TYPES = ("退货", "仅退款", "换货", "维修")
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

#: Service-type shares (退货, 仅退款, 换货, 维修) per product family.
TYPE_SHARES: dict[str, tuple[float, float, float, float]] = {
    "general": (0.55, 0.18, 0.15, 0.12),
    "digital": (0.52, 0.14, 0.16, 0.18),
    "home": (0.58, 0.22, 0.14, 0.06),
    "baby": (0.56, 0.24, 0.15, 0.05),
    "apparel": (0.50, 0.13, 0.34, 0.03),
    "beauty": (0.55, 0.35, 0.09, 0.01),
    "sports": (0.57, 0.17, 0.20, 0.06),
    "appliance": (0.42, 0.10, 0.13, 0.35),
    "food": (0.36, 0.60, 0.04, 0.00),
}
#: The "does not fit" reason in each family's own words.
FIT_REASON = {
    "general": "不想要了",
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
#: service type -> (reasons, weights); FIT is replaced by the family's fit reason.
REASONS: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "退货": (
        ("七天无理由", "质量问题", "商品瑕疵", FIT, "发错货", "拒收", "物流损坏", "与描述不符"),
        (0.42, 0.15, 0.10, 0.10, 0.05, 0.08, 0.05, 0.05),
    ),
    "仅退款": (
        ("少件/漏发", "拒收", "未收到货", "物流损坏", "商品瑕疵", "价保退差"),
        (0.28, 0.22, 0.18, 0.12, 0.10, 0.10),
    ),
    "换货": (
        (FIT, "质量问题", "商品瑕疵", "发错货"),
        (0.40, 0.25, 0.20, 0.15),
    ),
    "维修": (
        ("质量问题", "性能故障"),
        (0.70, 0.30),
    ),
}
#: service type -> (approve results, weights) for approved orders. 仅退款 needs no return.
APPROVALS: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "退货": (("上门取件", "客户发货", "闪电退款", "客户送货"), (0.58, 0.27, 0.12, 0.03)),
    "仅退款": (("直接退款",), (1.0,)),
    "换货": (("上门换新", "上门取件", "客户发货"), (0.35, 0.45, 0.20)),
    "维修": (("返修换新", "上门取件", "客户发货"), (0.25, 0.50, 0.25)),
}
APPROVE_LABELS = (
    "上门取件",
    "客户发货",
    "闪电退款",
    "客户送货",
    "直接退款",
    "上门换新",
    "返修换新",
)
REJECT_RESULT = "审核不通过"
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
        return date.today() - timedelta(days=1)
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
    return np.minimum((u[:, None] > cum).sum(axis=1), probs.shape[1] - 1)


def _labels(
    values: tuple[str, ...] | list[str], index: np.ndarray, mask: np.ndarray | None = None
) -> pl.Series:
    """Strings gathered by index (null where ``mask`` is false)."""
    series = pl.Series(list(values), dtype=pl.String).gather(pl.Series(index.astype(np.int64)))
    if mask is None:
        return series
    both = pl.DataFrame({"v": series, "m": pl.Series(mask, dtype=pl.Boolean)})
    return both.select(pl.when("m").then("v")).to_series()


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
        Add duplicate rows from overlapping exports (DOMAIN §2); the text-level problems
        (scientific-notation IDs, empty markers, mixed date formats) are added by
        :func:`write_demo`.

    Returns
    -------
    pl.DataFrame
        The canonical schema (``schema.COLUMNS``), one row per service order, sorted by store and
        apply time.

    Examples
    --------
    >>> frame = generate(stores=2, orders=100, end="2026-06-30")
    >>> frame.group_by("store_id").len().sort("store_id").rows()
    [('1000101', 100), ('1000102', 80)]
    """
    _check_sizes(stores, orders)
    end_day = _parse_end(end)
    start = end_day - timedelta(days=HISTORY_DAYS - 1)
    now = HISTORY_DAYS * 24.0  # export time (end + 1 day 00:00), hours since ``start`` 00:00
    profiles = store_profiles(stores, seed=seed)
    rng = np.random.default_rng([seed, 2])

    def param(field: str) -> np.ndarray:
        return np.array([getattr(p, field) for p in profiles], dtype=np.float64)

    counts = np.maximum(1, np.rint(orders * param("scale"))).astype(np.int64)
    si = np.repeat(np.arange(stores), counts)
    n = si.size

    # Application time: day by volume, hour by the daily rhythm.
    volume, load = _day_weights(start)
    day = rng.choice(HISTORY_DAYS, size=n, p=volume / volume.sum())
    hour = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    apply = day * 24.0 + hour + rng.random(n)
    order = np.lexsort((apply, si))
    si, apply, day = si[order], apply[order], day[order]
    wd0 = start.weekday()

    family_idx = np.array([FAMILIES.index(p.family) for p in profiles])[si]
    type_probs = np.array([TYPE_SHARES[p.family] for p in profiles])[si]
    stype = _pick(rng, type_probs)

    # Outcome: cancelled (some before the audit), rejected, or approved.
    u = rng.random(n)
    cancel = u < param("cancel_rate")[si]
    reject = ~cancel & (u < param("cancel_rate")[si] + param("reject_rate")[si])
    cancel_early = cancel & (rng.random(n) < 0.45)
    closed = reject & (rng.random(n) < 0.2)  # 审核关闭: the customer never answered

    # Approve result by service type; stores differ in how much they use 闪电退款.
    approve = np.full(n, -1)
    for t, (labels, weights) in APPROVALS.items():
        rows = np.flatnonzero(stype == TYPES.index(t))
        w = np.tile(np.array(weights), (rows.size, 1))
        if t == "退货":
            w[:, labels.index("闪电退款")] *= param("flash_boost")[si[rows]]
        approve[rows] = np.array([APPROVE_LABELS.index(x) for x in labels])[_pick(rng, w)]
    a_pickup, a_ship, a_flash, a_send, a_refund, a_swap, a_repair = range(7)

    # Audit: wait for the next staffed hour (nights, weekends, Spring Festival), then the queue.
    ws, we = param("work_start")[si], param("work_end")[si]
    hod = apply % 24.0
    dayn = np.floor(apply / 24.0)
    on_duty = (hod >= ws) & (hod < we)
    ready = np.where(on_duty, apply, np.where(hod < ws, dayn * 24 + ws, (dayn + 1) * 24 + ws))
    rday = np.floor(ready / 24.0)
    rwd = (wd0 + rday) % 7
    weekend_wait = (rwd >= 5) & (rng.random(n) < param("weekend_off")[si])
    ready = np.where(weekend_wait, (rday + 7 - rwd) * 24 + ws, ready)
    for h_from, h_to in SPRING_FESTIVALS:
        f0, f1 = (h_from - start).days * 24.0, (h_to - start).days * 24.0
        away = (apply >= f0) & (apply < f1) & (rng.random(n) < 0.85)
        back = f1 - rng.uniform(24.0, 96.0, n)  # staff return around 正月初六…初九
        ready = np.where(away, np.maximum(ready, back), ready)
    load_day = load[np.minimum(np.floor(ready / 24.0).astype(np.int64), HISTORY_DAYS - 1)]
    trend = 1.0 + param("audit_trend")[si] * np.clip(apply / now - 0.5, 0.0, None)
    queue_median = param("audit_hours")[si] * load_day * trend
    queue_median = np.where(ready > apply, queue_median * 1.3, queue_median)  # morning backlog
    audit_wait = ready - apply + _lognormal(rng, queue_median, 0.9, n, 240.0)
    auto_refund = (approve == a_refund) & (rng.random(n) < param("auto_share")[si])
    auto = (approve == a_flash) | auto_refund
    auto &= ~reject & ~cancel
    audit_wait = np.where(auto, rng.uniform(0.003, 0.08, n), audit_wait)

    # 待客户反馈 rounds: the clock keeps running while the customer answers.
    fp = param("first_pass")[si]
    rp = np.stack([fp, (1 - fp) * 0.65, (1 - fp) * 0.25, (1 - fp) * 0.10], axis=1)
    rounds = np.where(auto, 0, _pick(rng, rp))
    rounds = np.where(closed, np.maximum(rounds, 1), rounds)
    answer = rng.gamma(np.maximum(rounds, 1), 14.0) * (rounds > 0)
    answer = np.where(closed, 72.0 + rng.uniform(0, 2, n), answer)  # auto-closed after 3 days
    rereview = rounds * _lognormal(rng, param("audit_hours")[si] * 0.5, 0.8, n, 72.0)
    audit_h = audit_wait + answer + rereview

    # JD intervention: mostly disputes over quality and rejections.
    reason_idx = _draw_reasons(rng, stype, family_idx)
    quality = [reason_idx[0].index(r) for r in ("质量问题", "商品瑕疵", "性能故障")]
    reason_quality = np.isin(reason_idx[1], quality)
    jd_p = np.where(reject, 0.15, np.where(reason_quality, 0.05, 0.015))
    jd = ~cancel_early & (rng.random(n) < jd_p)
    unbounded = jd & (rng.random(n) < 0.1)
    dur = _lognormal(rng, 20.0, 0.7, n, 240.0)
    i_start = np.where(
        reject,
        apply + audit_h + rng.uniform(1.0, 24.0, n),
        apply + audit_wait * rng.uniform(0.2, 0.9, n),
    )
    audit_h = np.where(jd & ~reject, audit_h + dur, audit_h)  # the merchant waits for JD's ruling
    i_end = i_start + dur
    i_start = np.where(jd & ~unbounded, i_start, np.nan)
    i_end = np.where(jd & ~unbounded, i_end, np.nan)

    audit = apply + audit_h
    cancel_at = np.where(
        cancel_early,
        apply + audit_h * rng.uniform(0.1, 0.9, n),
        audit + _lognormal(rng, 10.0, 1.0, n, 96.0),
    )
    audit = np.where(cancel_early, np.nan, audit)

    # Return logistics for approved orders.
    approved = ~cancel & ~reject
    by_pickup = approved & np.isin(approve, [a_pickup, a_flash, a_swap]) | (
        approved & (approve == a_repair) & (rng.random(n) < 0.7)
    )
    by_ship = approved & ((approve == a_ship) | ((approve == a_repair) & ~by_pickup))
    by_send = approved & (approve == a_send)
    pickup_wait = _lognormal(rng, param("pickup_hours")[si], 0.6, n, 200.0)
    swap_wait = _lognormal(rng, param("pickup_hours")[si] * 2, 0.5, n, 200.0)
    pickup_wait = np.where(approve == a_swap, swap_wait, pickup_wait)
    pickup_wait += (rng.random(n) < 0.05) * rng.uniform(48.0, 96.0, n)  # customer not at home
    pickup = np.where(by_pickup, audit + pickup_wait, np.nan)
    ship_wait = _lognormal(rng, param("ship_hours")[si], 0.8, n, 240.0)
    ship = np.where(by_ship, audit + ship_wait, np.nan)
    ship = np.where(by_send, audit + _lognormal(rng, 20.0, 0.6, n, 120.0), ship)
    rstart = np.where(by_pickup, pickup, ship)

    cheap = param("cheap_carriers")[si]
    carrier_p = np.tile(CUSTOMER_CARRIER_P, (n, 1))
    carrier_p[:, 2:] *= (1.0 + 3.0 * cheap)[:, None]
    carrier = np.where(rng.random(n) < 0.92, 0, 1)  # pickups: JD's own couriers, some SF
    carrier = np.where(by_ship, _pick(rng, carrier_p), carrier)
    has_carrier = by_pickup | by_ship
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
    tracking = np.where(has_carrier & (rng.random(n) > 0.02), tracking, np.nan)

    inbound_wait = _lognormal(rng, param("inbound_hours")[si], 0.9, n, 120.0)
    inbound_wait += (rng.random(n) < 0.02) * rng.uniform(24.0, 96.0, n)  # parcel mislaid
    backlog_from = now - param("backlog_days")[si] * 24.0
    in_backlog = (param("backlog_days")[si] > 0) & (sign_true >= backlog_from)
    inbound_wait += (in_backlog & (rng.random(n) < 0.75)) * rng.uniform(30.0, 120.0, n)
    inbound = sign_true + inbound_wait

    pf = param("process_factor")[si]
    is_type = [stype == i for i in range(len(TYPES))]
    process_median = np.select(
        [
            approve == a_flash,
            approve == a_swap,
            approve == a_refund,
            approve == a_repair,
            is_type[3],
            is_type[2],
        ],
        [0.1, 0.2, 1.0 * pf, 24.0 * pf, 36.0 * pf, 8.0 * pf],
        default=2.0 * pf,
    )
    process_wait = _lognormal(rng, process_median, 0.9, n, 360.0)
    process = np.select(
        [approve == a_flash, approve == a_swap, approve == a_refund],
        [pickup + process_wait, pickup + process_wait, audit + process_wait],
        default=inbound + process_wait,
    )
    process = np.where(approved, process, np.nan)
    returns = by_pickup | by_ship | by_send
    for arr in (sign_true, inbound):
        arr[~returns] = np.nan
    # Rare scanner errors: the sign scan predates the hand-over.
    misscan = returns & (rng.random(n) < 0.002)
    sign = np.where(misscan, rstart - rng.uniform(1.0, 12.0, n), sign_true)

    delivery = _lognormal(rng, 50.0, 0.4, n, 200.0)  # the replacement or repaired item travels back
    quick = rng.uniform(0.1, 6.0, n)
    complete = np.select(
        [
            cancel,
            reject,
            approve == a_flash,
            np.isin(approve, [a_swap, a_repair]) | is_type[2] | is_type[3],
        ],
        [
            cancel_at,
            audit + rng.uniform(0.0, 0.02, n),
            np.fmax(process, inbound) + quick,
            process + delivery,
        ],
        default=process + quick,
    )
    # A rejection completes at once; keep it inside the export when the audit is.
    complete = np.where(reject & (audit < now), np.minimum(complete, now - 1e-4), complete)

    times = {
        "apply_time": apply,
        "first_audit_time": audit,
        "pickup_time": pickup,
        "customer_ship_time": np.where(by_pickup, np.nan, ship),
        "logistics_update_time": tracking,
        "sign_time": sign,
        "inbound_time": inbound,
        "first_process_time": process,
        "complete_time": complete,
        "intervention_start": i_start,
        "intervention_end": i_end,
    }
    # Everything after the export time has not happened yet: those orders are open.
    for key, arr in times.items():
        times[key] = np.where(arr < now, arr, np.nan)
    is_open = np.isnan(times["complete_time"])
    audited = ~np.isnan(times["first_audit_time"])
    awaiting_item = np.isin(approve, [a_pickup, a_ship, a_flash, a_send, a_swap, a_repair])
    awaiting_item &= np.isnan(times["inbound_time"])
    status_idx = np.select(
        [
            ~is_open & cancel,
            ~is_open & reject & closed,
            ~is_open & reject,
            ~is_open,
            ~audited & (rounds > 0),
            ~audited,
            awaiting_item,
        ],
        [5, 7, 6, 4, 1, 0, 2],
        default=3,
    )
    statuses = (
        "待审核",
        "待客户反馈",
        "待收货",
        "待处理",
        "完成",
        "取消",
        "审核不通过",
        "审核关闭",
    )
    jd_flag = jd & ~(~unbounded & np.isnan(times["intervention_start"]))

    # Identities: JD numbers grow with time, so sort ids by apply time across stores.
    by_time = np.argsort(apply, kind="stable")
    service_num = np.empty(n, dtype=np.int64)
    service_num[by_time] = 1_583_000_000 + np.cumsum(rng.integers(1, 60, n))
    order_num = (2.9e11 + (apply - rng.uniform(24.0, 360.0, n)) * 2.4e6).astype(np.int64)
    order_num += rng.integers(0, 999, n)

    sku_offsets = np.cumsum([0] + [len(CATALOGUE[f]) for f in FAMILIES])
    sizes = np.array([len(CATALOGUE[f]) for f in FAMILIES])[family_idx]
    sku_local = np.minimum((rng.pareto(1.2, n) * sizes / 4).astype(np.int64), sizes - 1)
    sku_global = sku_offsets[family_idx] + sku_local
    skus = [item for f in FAMILIES for item in CATALOGUE[f]]
    prices = np.array([item[2] for item in skus])
    quantity = np.where(rng.random(n) < 0.9, 1, rng.integers(2, 4, n))
    refund_kind = np.isin(approve, [a_pickup, a_ship, a_flash, a_send, a_refund]) & (
        is_type[0] | is_type[1]
    )
    partial = np.where(is_type[1], rng.choice([0.1, 0.2, 0.3, 0.5, 1.0], n), 1.0)
    refund = np.where(
        refund_kind & ~cancel & ~reject,
        np.round(prices[sku_global] * quantity * partial, 2),
        np.nan,
    )

    staff_idx = rng.integers(0, np.array([p.staff for p in profiles])[si])
    # Each store has its own small team: a window of the auditor names.
    team_start = np.array([(i * 5) % len(AUDITORS) for i in range(stores)])[si]
    auditor_idx = (team_start + staff_idx) % len(AUDITORS)
    auditor = _labels(
        (*AUDITORS, AUTO_AUDITOR), np.where(auto, len(AUDITORS), auditor_idx), audited
    )

    has_return = ~np.isnan(times["pickup_time"]) | ~np.isnan(times["customer_ship_time"])
    carried = has_carrier & has_return
    frame = pl.DataFrame(
        {
            "service_id": pl.Series(service_num).cast(pl.String),
            "store_id": _labels([store_id(i) for i in range(stores)], si),
            "store_name": _labels([p.name for p in profiles], si),
            "order_id": pl.Series(order_num).cast(pl.String),
            "sku_id": pl.Series(100_012_000_000 + sku_global * 7_919 + 31).cast(pl.String),
            "sku_name": _labels([s[0] for s in skus], sku_global),
            "category": _labels([s[1] for s in skus], sku_global),
            "service_type": _labels(TYPES, stype),
            "reason": _labels(reason_idx[0], reason_idx[1]),
            "approve_result": _labels(
                (*APPROVE_LABELS, REJECT_RESULT),
                np.where(reject, len(APPROVE_LABELS), np.maximum(approve, 0)),
                audited & ~closed,
            ),
            "status": _labels(statuses, status_idx),
            **{k: _hours_to_datetime(v, start) for k, v in times.items()},
            "carrier": _labels(CARRIERS, carrier, carried),
            "waybill_no": _waybills(rng, carrier, carried),
            "jd_intervened": pl.Series(jd_flag),
            "feedback_rounds": pl.Series(rounds.astype(np.int32)),
            "quantity": pl.Series(quantity.astype(np.int32)),
            "refund_amount": pl.Series(refund, nan_to_null=True),
            "auditor": auditor,
            **_customers(rng, n, region),
        }
    )
    frame = frame.select([pl.col(c).cast(t) for c, t in COLUMNS.items()])
    if dirty:
        frame = _add_duplicates(frame, seed=seed)
    return frame


def _draw_reasons(
    rng: np.random.Generator, stype: np.ndarray, family_idx: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """Reason per row as ``(labels, index)``; the fit reason depends on the family."""
    labels: list[str] = []
    for reasons, _ in REASONS.values():
        labels.extend(r for r in reasons if r != FIT and r not in labels)
    fit_labels = [FIT_REASON[f] for f in FAMILIES]
    for label in fit_labels:
        if label not in labels:
            labels.append(label)
    fit_index = np.array([labels.index(x) for x in fit_labels])
    idx = np.zeros(stype.size, dtype=np.int64)
    for t, (reasons, weights) in REASONS.items():
        rows = np.flatnonzero(stype == TYPES.index(t))
        draw = rng.choice(len(reasons), size=rows.size, p=np.array(weights) / sum(weights))
        mapped = np.array([labels.index(r) if r != FIT else -1 for r in reasons])[draw]
        idx[rows] = np.where(mapped < 0, fit_index[family_idx[rows]], mapped)
    return labels, idx


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
    """Fake but plausible names, mobile numbers and addresses."""
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
    return {c: out[c] for c in out.columns}


def _add_duplicates(frame: pl.DataFrame, *, seed: int) -> pl.DataFrame:
    """Overlapping exports: exact repeats, earlier snapshots, and re-completed orders."""
    rng = np.random.default_rng([seed, 3])
    n = frame.height
    k = max(3, n // 50)
    picks = rng.choice(n, size=min(3 * k, n), replace=False)
    exact = frame[picks[:k]]
    done = frame[picks[k : 2 * k]].filter(pl.col("complete_time").is_not_null())
    # An export taken before completion: still open, no completion time.
    snapshot = done.with_columns(
        complete_time=pl.lit(None, dtype=DATETIME),
        status=pl.when(pl.col("status") == "完成").then(pl.lit("待处理")).otherwise("status"),
    )
    # A reopened order: completed again later, the later row is the truth.
    later = (
        frame[picks[2 * k :]]
        .filter(pl.col("complete_time").is_not_null())
        .with_columns(complete_time=pl.col("complete_time") + pl.duration(hours=30))
    )
    combined = pl.concat([frame, exact, snapshot, later])
    # Keep the original row order overall but interleave the extra rows where exports overlap.
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
    parquet: Path
    xlsx: tuple[Path, ...]
    csv: Path | None  # the GB18030 CSV, written with ``dirty=True`` only
    rows: int
    stores: tuple[str, ...]

    @property
    def paths(self) -> tuple[Path, ...]:
        return (*self.xlsx, *([self.csv] if self.csv else []), self.parquet)


#: Optional canonical columns whose empty cells a dirty export fills with a null marker.
_MARKER_COLUMNS = tuple(
    c
    for c in COLUMNS
    if c
    not in (
        "service_id",
        "store_id",
        "store_name",
        "service_type",
        "status",
        "apply_time",
        "feedback_rounds",
        "quantity",
        "jd_intervened",
    )
)
_COLUMN_WIDTHS = {"sku_name": 44, "address": 44, "store_name": 16, "reason": 12, "waybill_no": 18}


def write_demo(out: Path | str, **generate_kwargs: object) -> DemoFiles:
    """Generate demo data and write it as JD exports.

    Writes ``out/<store_id>.xlsx`` per store (sheet 服务单明细, Chinese headers, Excel datetime
    cells) and ``out/all_stores.parquet`` (canonical names). With ``dirty=True`` the files carry
    the export problems of DOMAIN §2 and ``out/all_stores.csv`` (GB18030) is written as well.

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
    dirty = bool(generate_kwargs.get("dirty", False))
    seed = int(generate_kwargs.get("seed", 7))  # type: ignore[call-overload]
    frame = generate(**generate_kwargs)  # type: ignore[arg-type]
    out.mkdir(parents=True, exist_ok=True)
    overrides = _dirty_overrides(frame, seed=seed) if dirty else None
    xlsx: list[Path] = []
    stores = frame["store_id"].unique(maintain_order=True).to_list()
    for sid in stores:
        rows = frame["store_id"] == sid
        path = out / f"{sid}.xlsx"
        _write_xlsx(
            frame.filter(rows),
            path,
            overrides=None if overrides is None else overrides.filter(rows),
        )
        xlsx.append(path)
    csv = None
    if overrides is not None:
        csv = out / CSV_NAME
        _write_csv(frame, csv, overrides=overrides)
    parquet = out / PARQUET_NAME
    frame.write_parquet(parquet, compression="zstd", compression_level=1)
    return DemoFiles(out, parquet, tuple(xlsx), csv, frame.height, tuple(stores))


def _export_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as the text a JD CSV export shows."""
    exprs = []
    for c, dtype in COLUMNS.items():
        if dtype == DATETIME:
            exprs.append(pl.col(c).dt.strftime("%Y-%m-%d %H:%M:%S"))
        elif dtype == pl.Boolean():
            yes_no = pl.when(pl.col(c)).then(pl.lit("是")).when(pl.col(c).not_()).then(pl.lit("否"))
            exprs.append(yes_no.alias(c))
        elif dtype == pl.Float64():
            exprs.append(pl.col(c).round(2).cast(pl.String))
        else:
            exprs.append(pl.col(c).cast(pl.String))
    return frame.select(exprs)


def _dirty_overrides(frame: pl.DataFrame, *, seed: int) -> pl.DataFrame:
    """Text that replaces cells in a dirty export (null = keep the cell as it is).

    Some rows carry dates as ``YYYY/MM/DD HH:MM[:SS]`` text or 13-digit epoch milliseconds, a
    few order ids lost their digits to scientific notation, and empty cells hold ``-``, ``--`` or
    ``无``.
    """
    rng = np.random.default_rng([seed, 4])
    n = frame.height
    form = rng.choice(4, size=n, p=[0.93, 0.03, 0.02, 0.02])  # 0 keep, 1 minutes, 2 seconds, 3 ms
    form[rng.choice(n, size=min(n, 3), replace=False)] = np.array([1, 2, 3])[: min(n, 3)]
    sci = rng.random(n) < 0.003
    sci[rng.choice(n, size=min(n, 2), replace=False)] = True
    markers = _labels(("-", "--", "无", ""), rng.choice(4, size=n, p=[0.5, 0.2, 0.2, 0.1]))
    helper = pl.DataFrame({"_form": pl.Series(form), "_sci": pl.Series(sci), "_marker": markers})
    wide = pl.concat([frame, helper], how="horizontal")
    exprs = []
    for c, dtype in COLUMNS.items():
        e = pl.lit(None, dtype=pl.String)
        if dtype == DATETIME:
            epoch_ms = pl.col(c).dt.epoch("ms") - 8 * 3600 * 1000  # China time → UTC instant
            e = (
                pl.when(pl.col("_form") == 1)
                .then(pl.col(c).dt.strftime("%Y/%m/%d %H:%M"))
                .when(pl.col("_form") == 2)
                .then(pl.col(c).dt.strftime("%Y/%m/%d %H:%M:%S"))
                .when(pl.col("_form") == 3)
                .then(epoch_ms.cast(pl.String))
            )
        elif c == "order_id":
            digits = pl.col(c)
            e = pl.when(pl.col("_sci")).then(
                pl.concat_str(
                    digits.str.slice(0, 1),
                    pl.lit("."),
                    digits.str.slice(1, 5),
                    pl.lit("E+"),
                    (digits.str.len_chars() - 1).cast(pl.String),
                )
            )
        if c in _MARKER_COLUMNS:
            marker = pl.when(pl.col(c).is_null() & (pl.col("_marker") != "")).then("_marker")
            e = pl.coalesce(e, marker)
        exprs.append(e.alias(c))
    return wide.select(exprs)


def _write_xlsx(frame: pl.DataFrame, path: Path, *, overrides: pl.DataFrame | None = None) -> None:
    """One JD-style workbook: sheet 服务单明细, Chinese headers, datetime cells, IDs as text."""
    import xlsxwriter  # only the demo writes workbooks

    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "nan_inf_to_errors": True,
        },
    )
    sheet = workbook.add_worksheet(SHEET_NAME)
    date_format = workbook.add_format({"num_format": EXCEL_DATETIME_FORMAT})
    money_format = workbook.add_format({"num_format": "0.00"})
    header_format = workbook.add_format({"bold": True})
    # Excel serial days: 1970-01-01 is day 25569 of the 1900 date system.
    cells = frame.select(
        [
            (
                (pl.col(c).dt.epoch("us") / 86_400_000_000 + 25569.0)
                if t == DATETIME
                else pl.when(pl.col(c)).then(pl.lit("是")).otherwise(pl.lit("否"))
                if t == pl.Boolean()
                else pl.col(c)
            ).alias(c)
            for c, t in COLUMNS.items()
        ]
    )
    for j, (c, dtype) in enumerate(COLUMNS.items()):
        sheet.write_string(0, j, ALIASES[c][0], header_format)
        values = cells[c].to_list()
        if dtype == DATETIME:
            write, fmt = sheet.write_number, date_format
        elif dtype == pl.String():
            write, fmt = sheet.write_string, None
        else:
            write, fmt = sheet.write_number, money_format if dtype == pl.Float64() else None
        if c == "jd_intervened":
            write = sheet.write_string
        for r, value in enumerate(values, start=1):
            if value is not None:
                write(r, j, value, fmt)
        if overrides is not None:
            for r, text in enumerate(overrides[c].to_list(), start=1):
                if text is not None:
                    sheet.write_string(r, j, text)
        width = 19 if dtype == DATETIME else _COLUMN_WIDTHS.get(c, 12)
        sheet.set_column(j, j, width)
    sheet.freeze_panes(1, 0)
    workbook.close()


def _write_csv(frame: pl.DataFrame, path: Path, *, overrides: pl.DataFrame) -> None:
    """A GB18030 CSV as Excel in China saves it, with the dirty overrides applied."""
    text = _export_text(frame)
    merged = text.select([pl.coalesce(overrides[c], text[c]).alias(ALIASES[c][0]) for c in COLUMNS])
    path.write_bytes(merged.write_csv().encode("gb18030"))


END_MARKER = ".demo-end"


def _stale(out: Path, generate_kwargs: Mapping[str, object]) -> bool:
    """A default demo written before yesterday would leave the default report window empty."""
    if "end" in generate_kwargs:
        return False
    try:
        written_end = date.fromisoformat((out / END_MARKER).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return False  # not made by ensure_demo (e.g. `aftersales demo --end …`): leave it alone
    return written_end < _parse_end(None)


def ensure_demo(out: Path = DEFAULT_OUT, **generate_kwargs: object) -> Path:
    """Return ``out/all_stores.parquet``, generating the default demo (end = yesterday) if missing.

    ``generate_kwargs`` (e.g. a smaller ``orders`` in tests) are passed to :func:`write_demo`.

    A demo that ``ensure_demo`` generated on an earlier day is regenerated, so the default
    report (window ending yesterday) always has current data.

    Generation happens in a private temporary folder that is renamed into place, so two processes
    starting at once never see (or write) a half-written demo: the first rename wins and the other
    process discards its copy.
    """
    out = Path(out)
    target = out / PARQUET_NAME
    if target.exists() and not _stale(out, generate_kwargs):
        return target
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        files = write_demo(tmp, **generate_kwargs)
        end_day = _parse_end(generate_kwargs.get("end"))  # type: ignore[arg-type]
        (files.out / END_MARKER).write_text(end_day.isoformat(), encoding="utf-8")
        try:
            os.rename(tmp, out)  # atomic; replaces only a missing or empty folder
        except OSError:
            if target.exists() and not _stale(out, generate_kwargs):
                return target  # another process finished first
            # ``out`` holds other files: move ours in one by one, the parquet last.
            out.mkdir(parents=True, exist_ok=True)
            for path in sorted(tmp.iterdir(), key=lambda p: p.name == PARQUET_NAME):
                os.replace(path, out / path.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


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
    for path in files.paths:
        print(f"  {path}")
    return 0
