"""The input tables of INTERCHANGE.md as data: columns, Chinese aliases, required flags,
types and enumerations.

A ``Column`` says how one cell is read (``kind``) and how long it may be; the table's
``key`` is its natural key. Enumerations accept the English value, its Chinese label
(as in the model choices) and the short forms of INTERCHANGE.md (生产/配送/生产配送 …).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from parties.models import EnterpriseRole, HospitalLevel, Ownership
from price_monitor.models import PriceSource
from procurement.models import Category, RoundLevel
from settlement.models import InvoiceKind

# Cell kinds. "code": an identifier or number-like text (full-width forms folded);
# "text": free text (only trimmed); "int"; "amount" (2 decimals); "price" (4 decimals);
# "rate" (4 decimals, tax rates); "date"; "timestamp"; "period" (YYYY-MM); "enum".
KINDS = ("code", "text", "int", "amount", "price", "rate", "date", "timestamp", "period", "enum")

# Decimal places and the most digits before the point, per money kind (model fields:
# amounts max_digits 16/2, unit prices 14/4, tax rates 5/4).
SCALE = {"amount": 2, "price": 4, "rate": 4}
INT_DIGITS = {"amount": 14, "price": 10, "rate": 1}


def _choices(enum_cls, extra: dict[str, str] | None = None) -> dict[str, str]:
    """value → canonical, from the English values, the Chinese half of each label and ``extra``."""
    out: dict[str, str] = {}
    for value, label in enum_cls.choices:
        out[value] = value
        out[str(label).split(" / ")[0].strip()] = value
    out.update(extra or {})
    return out


ROLE_ALIASES = _choices(
    EnterpriseRole,
    {
        "生产": "manufacturer",
        "配送": "distributor",
        "生产配送": "both",
        "生产企业": "manufacturer",
        "配送企业": "distributor",
    },
)
LEVEL_ALIASES = _choices(HospitalLevel, {"一级": "primary", "基层": "primary", "一级及以下": "primary"})
OWNERSHIP_ALIASES = _choices(Ownership, {"民营": "private", "私立": "private", "非公立": "private"})
CATEGORY_ALIASES = _choices(Category, {"耗材": "consumable", "医用耗材": "consumable", "药品": "drug"})
ROUND_LEVEL_ALIASES = _choices(RoundLevel, {"国家集采": "national", "省级集采": "provincial", "联盟集采": "alliance"})
INVOICE_KIND_ALIASES = _choices(InvoiceKind, {"蓝字": "blue", "红字": "red", "蓝票": "blue", "红票": "red"})
PRICE_SOURCE_ALIASES = _choices(PriceSource, {"挂网价": "listing"})
PAYMENT_STATUS_ALIASES = {"success": "success", "failed": "failed", "成功": "success", "失败": "failed"}


@dataclass(frozen=True)
class Column:
    name: str
    zh: str
    kind: str = "code"
    required: bool = True
    max_length: int | None = None
    choices: dict[str, str] | None = None  # enum: accepted spelling → canonical value
    aliases: tuple[str, ...] = ()  # further accepted headers

    @property
    def headers(self) -> tuple[str, ...]:
        return (self.name, self.zh, *self.aliases)


@dataclass(frozen=True)
class TableSpec:
    name: str
    zh: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # Master data is updated in place (audited); documents are never overwritten.
    master: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def header_map(self) -> dict[str, str]:
        """Accepted header (case-folded for English) → canonical column name."""
        out: dict[str, str] = {}
        for c in self.columns:
            for h in c.headers:
                out[h.casefold()] = c.name
        return out


C = Column

REGIONS = TableSpec(
    "regions",
    "行政区划",
    (
        C("region_code", "区划代码", max_length=6),
        C("name", "名称", "text", max_length=100, aliases=("区划名称",)),
        C("parent_code", "上级区划代码", required=False, max_length=6),
    ),
    key=("region_code",),
    master=True,
)

ENTERPRISES = TableSpec(
    "enterprises",
    "医药企业",
    (
        C("credit_code", "统一社会信用代码", max_length=18),
        C("name", "企业名称", "text", max_length=200),
        C("role", "企业类型", "enum", choices=ROLE_ALIASES),
        C("bank_name", "开户银行", "text", required=False, max_length=200),
        C("bank_account", "银行账号", required=False, max_length=30),
    ),
    key=("credit_code",),
    master=True,
)

HOSPITALS = TableSpec(
    "hospitals",
    "定点医疗机构",
    (
        C("hospital_code", "医疗机构编码", max_length=12),
        C("name", "医疗机构名称", "text", max_length=200),
        C("region_code", "统筹区", max_length=6, aliases=("统筹区代码",)),
        C("level", "医院等级", "enum", choices=LEVEL_ALIASES),
        C("ownership", "性质", "enum", choices=OWNERSHIP_ALIASES),
    ),
    key=("hospital_code",),
    master=True,
)

PRODUCTS = TableSpec(
    "products",
    "药品和医用耗材目录",
    (
        C("product_code", "医保编码", max_length=27),
        C("category", "类别", "enum", choices=CATEGORY_ALIASES),
        C("generic_name", "通用名", "text", max_length=200),
        C("dosage_form", "剂型", "text", required=False, max_length=100),
        C("specification", "规格", "text", max_length=100),
        C("package", "包装", "text", max_length=100),
        C("units_per_package", "最小包装数量", "int"),
        C("manufacturer_credit_code", "生产企业统一社会信用代码", max_length=18),
    ),
    key=("product_code",),
    master=True,
)

ROUNDS = TableSpec(
    "rounds",
    "集采批次",
    (
        C("round_code", "批次编码", max_length=40),
        C("name", "批次名称", "text", max_length=200),
        C("level", "层级", "enum", choices=ROUND_LEVEL_ALIASES),
        C("category", "类别", "enum", choices=CATEGORY_ALIASES),
        C("start_date", "协议期开始", "date"),
        C("end_date", "协议期结束", "date"),
    ),
    key=("round_code",),
    master=True,
)

AWARDS = TableSpec(
    "awards",
    "中选结果",
    (
        C("round_code", "批次编码", max_length=40),
        C("product_code", "医保编码", max_length=27),
        C("enterprise_credit_code", "中选企业", max_length=18),
        C("supply_region_code", "供应地区", max_length=6),
        C("award_price", "中选价(元/包装)", "price", aliases=("中选价",)),
    ),
    key=("round_code", "product_code", "supply_region_code"),
)

AGREEMENTS = TableSpec(
    "agreements",
    "带量采购协议",
    (
        C("round_code", "批次编码", max_length=40),
        C("hospital_code", "医疗机构编码", max_length=12),
        C("product_code", "医保编码", max_length=27),
        C("year_start", "协议年度开始", "date"),
        C("year_end", "协议年度结束", "date"),
        C("agreed_qty", "约定采购量", "int"),
    ),
    key=("round_code", "hospital_code", "product_code", "year_start"),
)

ORDERS = TableSpec(
    "orders",
    "采购订单",
    (
        C("order_no", "订单编号", max_length=40),
        C("line_no", "订单明细号", "int"),
        C("hospital_code", "医疗机构编码", max_length=12),
        C("distributor_credit_code", "配送企业", max_length=18),
        C("product_code", "医保编码", max_length=27),
        C("qty", "采购数量", "int"),
        C("unit_price", "采购单价", "price"),
        C("ordered_at", "下单时间", "timestamp"),
    ),
    key=("order_no", "line_no"),
)

DELIVERIES = TableSpec(
    "deliveries",
    "配送单",
    (
        C("delivery_no", "配送单号", max_length=40),
        C("line_no", "配送明细号", "int"),
        C("order_no", "订单编号", max_length=40),
        C("order_line_no", "订单明细号", "int"),
        C("qty", "配送数量", "int"),
        C("batch_no", "生产批号", max_length=60),
        C("expiry_date", "有效期至", "date"),
        C("delivered_at", "配送时间", "timestamp"),
    ),
    key=("delivery_no", "line_no"),
)

RECEIPTS = TableSpec(
    "receipts",
    "验收入库",
    (
        C("delivery_no", "配送单号", max_length=40),
        C("line_no", "配送明细号", "int"),
        C("accepted_qty", "验收合格数量", "int"),
        C("rejected_qty", "拒收数量", "int"),
        C("received_at", "验收时间", "timestamp"),
        C("reject_reason", "拒收原因", "text", required=False, max_length=500),
    ),
    key=("delivery_no", "line_no"),
)

INVOICES = TableSpec(
    "invoices",
    "发票",
    (
        C("invoice_no", "发票号码", max_length=20),
        C("invoice_code", "发票代码", required=False, max_length=12),
        C("line_no", "发票明细号", "int"),
        C("kind", "发票类型", "enum", choices=INVOICE_KIND_ALIASES),
        C("original_invoice_no", "原蓝字发票号码", required=False, max_length=20),
        C("original_invoice_code", "原蓝字发票代码", required=False, max_length=12),
        C("distributor_credit_code", "销售方", max_length=18),
        C("hospital_code", "购买方", max_length=12),
        C("delivery_no", "配送单号", max_length=40),
        C("delivery_line_no", "配送明细号", "int"),
        C("qty", "数量", "int"),
        C("unit_price", "单价(含税)", "price", aliases=("单价",)),
        C("amount", "金额(价税合计)", "amount", aliases=("金额", "价税合计")),
        C("tax_rate", "税率", "rate"),
        C("issued_at", "开票日期", "date"),
    ),
    key=("invoice_code", "invoice_no", "line_no"),
)

FUND_ALLOCATIONS = TableSpec(
    "fund_allocations",
    "医保基金应拨付额",
    (
        C("hospital_code", "医疗机构编码", max_length=12),
        C("period", "结算期", "period"),
        C("amount", "应拨付金额", "amount"),
    ),
    key=("hospital_code", "period"),
)

PAYMENT_CONFIRMATIONS = TableSpec(
    "payment_confirmations",
    "银行支付回单",
    (
        C("instruction_no", "支付指令号", max_length=40),
        C("payee_credit_code", "收款企业", max_length=18),
        C("amount", "金额", "amount"),
        C("status", "状态", "enum", choices=PAYMENT_STATUS_ALIASES),
        C("paid_at", "支付时间", "timestamp"),
        C("bank_ref", "银行流水号", required=False, max_length=60),
    ),
    key=("instruction_no",),
)

REFERENCE_PRICES = TableSpec(
    "reference_prices",
    "参考价格",
    (
        C("product_code", "医保编码", max_length=27),
        C("source", "来源", "enum", choices=PRICE_SOURCE_ALIASES),
        C("region_code", "地区", max_length=6),
        C("price", "价格(元/包装)", "price", aliases=("价格",)),
        C("effective_from", "生效日期", "date"),
    ),
    key=("product_code", "source", "region_code", "effective_from"),
    master=True,
)

INPUT_TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        REGIONS,
        ENTERPRISES,
        HOSPITALS,
        PRODUCTS,
        ROUNDS,
        AWARDS,
        AGREEMENTS,
        ORDERS,
        DELIVERIES,
        RECEIPTS,
        INVOICES,
        FUND_ALLOCATIONS,
        PAYMENT_CONFIRMATIONS,
        REFERENCE_PRICES,
    )
}

# import_dir order: every table after the ones it references.
DEPENDENCY_ORDER = (
    "regions",
    "enterprises",
    "hospitals",
    "products",
    "rounds",
    "awards",
    "agreements",
    "orders",
    "deliveries",
    "receipts",
    "invoices",
    "fund_allocations",
    "reference_prices",
    "payment_confirmations",
)
