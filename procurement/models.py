"""Catalogue, rounds, awards, agreements and the purchase documents (order → delivery → receipt).

Quantities are integers in packages (包装单位). Unit prices are yuan with 4 decimals,
amounts yuan with 2 (interchange.money). Every ``*_date`` beside a timestamp is that
timestamp's calendar date in Asia/Shanghai, stored so set-based rules can use it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from parties.models import Enterprise, Hospital, Region


def unit_price_field(verbose_name: str, **kwargs) -> models.DecimalField:
    return models.DecimalField(verbose_name, max_digits=14, decimal_places=4, **kwargs)


def amount_field(verbose_name: str, **kwargs) -> models.DecimalField:
    return models.DecimalField(verbose_name, max_digits=16, decimal_places=2, **kwargs)


class Category(models.TextChoices):
    DRUG = "drug", _("药品 / drug")
    CONSUMABLE = "consumable", _("医用耗材 / consumable")


class Product(models.Model):
    """A drug (国家医保药品编码) or consumable (医保医用耗材编码) of the catalogue."""

    code = models.CharField(_("医保编码 / product code"), max_length=27, primary_key=True)
    category = models.CharField(_("类别 / category"), max_length=10, choices=Category.choices)
    generic_name = models.CharField(_("通用名 / generic name"), max_length=200)
    dosage_form = models.CharField(_("剂型 / dosage form"), max_length=100, blank=True, default="")
    specification = models.CharField(_("规格 / specification"), max_length=100)
    package = models.CharField(_("包装 / package"), max_length=100)
    units_per_package = models.PositiveIntegerField(_("最小包装数量 / units per package"))
    manufacturer = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="products")

    class Meta:
        verbose_name = _("产品 / product")
        verbose_name_plural = _("药品和医用耗材目录 / products")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(name="product_units_positive", condition=Q(units_per_package__gt=0)),
            models.CheckConstraint(
                name="product_code_matches_category",
                condition=(Q(category="drug") & (Q(code__startswith="X") | Q(code__startswith="Z")))
                | (Q(category="consumable") & Q(code__startswith="C")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.generic_name} {self.specification} {self.package}"


class RoundLevel(models.TextChoices):
    NATIONAL = "national", _("国家 / national")
    PROVINCIAL = "provincial", _("省级 / provincial")
    ALLIANCE = "alliance", _("联盟 / alliance")


class Round(models.Model):
    """集采批次: a procurement round with its agreement period (协议期)."""

    code = models.CharField(_("批次编码 / round code"), max_length=40, unique=True)
    name = models.CharField(_("批次名称 / name"), max_length=200)
    level = models.CharField(_("层级 / level"), max_length=10, choices=RoundLevel.choices)
    category = models.CharField(_("类别 / category"), max_length=10, choices=Category.choices)
    start_date = models.DateField(_("协议期开始 / start"))
    end_date = models.DateField(_("协议期结束 / end"))

    class Meta:
        verbose_name = _("集采批次 / round")
        verbose_name_plural = _("集采批次 / rounds")
        ordering = ["start_date", "code"]
        constraints = [models.CheckConstraint(name="round_dates_ordered", condition=Q(end_date__gt=F("start_date")))]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Award(models.Model):
    """中选结果: product, winning enterprise, supply region and award price per package."""

    round = models.ForeignKey(Round, on_delete=models.PROTECT, related_name="awards")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="awards")
    enterprise = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="awards")
    supply_region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="awards")
    award_price = unit_price_field(_("中选价(元/包装) / award price"))

    class Meta:
        verbose_name = _("中选结果 / award")
        verbose_name_plural = _("中选结果 / awards")
        constraints = [
            models.UniqueConstraint(fields=["round", "product", "supply_region"], name="award_natural_key"),
            models.CheckConstraint(name="award_price_positive", condition=Q(award_price__gt=0)),
        ]


class Agreement(models.Model):
    """约定采购量: the volume a hospital committed to for one product and agreement year."""

    round = models.ForeignKey(Round, on_delete=models.PROTECT, related_name="agreements")
    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="agreements")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="agreements")
    year_start = models.DateField(_("协议年度开始 / year start"))
    year_end = models.DateField(_("协议年度结束 / year end"))
    agreed_qty = models.PositiveIntegerField(_("约定采购量 / agreed quantity"))

    class Meta:
        verbose_name = _("带量采购协议 / agreement")
        verbose_name_plural = _("带量采购协议 / agreements")
        constraints = [
            models.UniqueConstraint(fields=["round", "hospital", "product", "year_start"], name="agreement_natural_key"),
            models.CheckConstraint(name="agreement_qty_positive", condition=Q(agreed_qty__gt=0)),
            models.CheckConstraint(name="agreement_year_ordered", condition=Q(year_end__gt=F("year_start"))),
        ]


class OrderLine(models.Model):
    """采购订单明细: one line of a hospital's order to a distributor."""

    order_no = models.CharField(_("订单编号 / order no"), max_length=40)
    line_no = models.PositiveIntegerField(_("订单明细号 / line no"))
    # Bulk table: every index costs on each imported row. The FKs' own indexes (and the
    # varchar_pattern_ops twins PostgreSQL gets for text keys) are replaced by the
    # composite indexes in Meta, which serve the same look-ups.
    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="order_lines", db_index=False)
    distributor = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="order_lines", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines", db_index=False)
    qty = models.IntegerField(_("采购数量 / quantity"))  # packages
    unit_price = unit_price_field(_("采购单价 / unit price"))
    ordered_at = models.DateTimeField(_("下单时间 / ordered at"))
    order_date = models.DateField(_("下单日期 / order date"), db_index=True)  # Asia/Shanghai

    class Meta:
        verbose_name = _("采购订单明细 / order line")
        verbose_name_plural = _("采购订单 / orders")
        constraints = [
            models.UniqueConstraint(fields=["order_no", "line_no"], name="order_line_natural_key"),
            models.CheckConstraint(name="order_qty_positive", condition=Q(qty__gt=0)),
            models.CheckConstraint(name="order_line_no_positive", condition=Q(line_no__gt=0)),
            models.CheckConstraint(name="order_price_nonnegative", condition=Q(unit_price__gte=0)),
        ]
        indexes = [
            models.Index(fields=["hospital", "order_date"]),
            models.Index(fields=["product", "order_date"]),
            models.Index(fields=["distributor", "order_date"]),
        ]

    @property
    def key(self) -> str:
        return f"{self.order_no}/{self.line_no}"


class DeliveryLine(models.Model):
    """配送单明细 and, once the hospital has confirmed it, its receipt (验收入库).

    The receipt lives on the delivery line (same natural key, at most one per line) so
    the database itself holds accepted + rejected = delivered and received ≥ delivered.
    A confirmed receipt is never edited: corrections are returns / red invoices.
    """

    delivery_no = models.CharField(_("配送单号 / delivery no"), max_length=40)
    line_no = models.PositiveIntegerField(_("配送明细号 / line no"))
    order_line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="delivery_lines")
    qty = models.IntegerField(_("配送数量 / quantity"))  # packages
    batch_no = models.CharField(_("生产批号 / batch no"), max_length=60)
    expiry_date = models.DateField(_("有效期至 / expiry"))
    delivered_at = models.DateTimeField(_("配送时间 / delivered at"))
    delivery_date = models.DateField(_("配送日期 / delivery date"), db_index=True)  # Asia/Shanghai
    # Receipt (null until the hospital confirms).
    accepted_qty = models.IntegerField(_("验收合格数量 / accepted"), null=True, blank=True)
    rejected_qty = models.IntegerField(_("拒收数量 / rejected"), null=True, blank=True)
    received_at = models.DateTimeField(_("验收时间 / received at"), null=True, blank=True)
    accepted_date = models.DateField(_("验收日期 / acceptance date"), null=True, blank=True, db_index=True)
    reject_reason = models.CharField(_("拒收原因 / reject reason"), max_length=500, blank=True, default="")
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )

    class Meta:
        verbose_name = _("配送单明细 / delivery line")
        verbose_name_plural = _("配送单 / deliveries")
        constraints = [
            models.UniqueConstraint(fields=["delivery_no", "line_no"], name="delivery_line_natural_key"),
            models.CheckConstraint(name="delivery_qty_positive", condition=Q(qty__gt=0)),
            models.CheckConstraint(
                name="receipt_complete_or_absent",
                condition=Q(accepted_qty__isnull=True, rejected_qty__isnull=True, received_at__isnull=True, accepted_date__isnull=True)
                | Q(accepted_qty__isnull=False, rejected_qty__isnull=False, received_at__isnull=False, accepted_date__isnull=False),
            ),
            models.CheckConstraint(
                name="receipt_quantities_add_up",
                condition=Q(accepted_qty__isnull=True)
                | Q(accepted_qty__gte=0, rejected_qty__gte=0, accepted_qty=F("qty") - F("rejected_qty")),
            ),
            models.CheckConstraint(
                name="receipt_not_before_delivery",
                condition=Q(received_at__isnull=True) | Q(received_at__gte=F("delivered_at")),
            ),
            models.CheckConstraint(
                name="receipt_rejection_has_reason",
                condition=Q(rejected_qty__isnull=True) | Q(rejected_qty=0) | ~Q(reject_reason=""),
            ),
        ]

    @property
    def key(self) -> str:
        return f"{self.delivery_no}/{self.line_no}"

    @property
    def is_received(self) -> bool:
        return self.received_at is not None


class Prepayment(models.Model):
    """医保基金预付: PREPAYMENT_RATE of a hospital's agreed amount for an agreement year.

    Written only by procurement.services.prepayments (and, for ``used_amount``, by batch
    funding through it). Balance = amount − used − recovered − cleared once paid out;
    usable by batches whose cut-off is on or after ``year_start`` until ``cleared_at``.
    Its history is the ledger: every movement is a JournalEntry naming this row.
    """

    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="prepayments")
    year_start = models.DateField(_("协议年度开始 / year start"))
    amount = amount_field(_("预付金额 / amount"))
    paid_at = models.DateTimeField(_("拨付时间 / paid at"), null=True, blank=True)
    paid_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # What batches funded from it, what was recovered (收回预付金) and what year-end clearing
    # offset against collection orders or returned to the fund.
    used_amount = amount_field(_("已使用 / used"), default=0)
    recovered_amount = amount_field(_("已收回 / recovered"), default=0)
    cleared_amount = amount_field(_("已清算 / cleared"), default=0)
    cleared_at = models.DateTimeField(_("清算时间 / cleared at"), null=True, blank=True)

    class Meta:
        verbose_name = _("医保基金预付 / prepayment")
        verbose_name_plural = _("医保基金预付 / prepayments")
        constraints = [
            models.UniqueConstraint(fields=["hospital", "year_start"], name="prepayment_per_hospital_year"),
            models.CheckConstraint(name="prepayment_amount_nonnegative", condition=Q(amount__gte=0)),
            models.CheckConstraint(
                name="prepayment_movements_nonnegative",
                condition=Q(used_amount__gte=0, recovered_amount__gte=0, cleared_amount__gte=0),
            ),
            models.CheckConstraint(
                name="prepayment_used_only_when_paid",
                condition=Q(paid_at__isnull=False) | Q(used_amount=0, recovered_amount=0, cleared_amount=0),
            ),
        ]

    @property
    def balance(self):
        """Unused, unrecovered, uncleared amount (0 until paid out)."""
        if self.paid_at is None:
            return self.amount * 0
        return self.amount - self.used_amount - self.recovered_amount - self.cleared_amount
