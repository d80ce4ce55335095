"""Invoices, fund allocations and document numbers (matching, statements, batches,
payments and the ledger build on these).

Money: amounts yuan with 2 decimals, unit prices 4 (interchange.money); never float.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from parties.models import Enterprise, Hospital
from procurement.models import DeliveryLine, amount_field, unit_price_field


class InvoiceKind(models.TextChoices):
    BLUE = "blue", _("蓝字 / blue")
    RED = "red", _("红字 / red (reversal)")


class MatchStatus(models.TextChoices):
    PENDING = "pending", _("待对账 / not yet matched")  # imported, matching has not run
    MATCHED = "matched", _("已匹配 / matched")  # no exception: settleable
    EXCEPTION = "exception", _("异常 / exception")  # one or more exception codes
    REVERSED = "reversed", _("已冲红 / reversed")  # net quantity 0 after red lines


class ExceptionCode(models.TextChoices):
    NO_DELIVERY = "NO_DELIVERY", _("无配送记录 / no delivery line")
    NO_RECEIPT = "NO_RECEIPT", _("未验收 / not yet received")
    QTY_EXCEEDS_ACCEPTED = "QTY_EXCEEDS_ACCEPTED", _("开票数量超过验收数量 / quantity exceeds accepted")
    PRICE_DIFFERS_FROM_ORDER = "PRICE_DIFFERS_FROM_ORDER", _("单价与订单不符 / price differs from order")
    PRICE_ABOVE_AWARD = "PRICE_ABOVE_AWARD", _("单价高于中选价 / price above award")
    AMOUNT_MISCALCULATED = "AMOUNT_MISCALCULATED", _("金额计算错误 / amount miscalculated")
    PARTY_MISMATCH = "PARTY_MISMATCH", _("购销方不符 / party mismatch")
    DISPUTED = "DISPUTED", _("医院有异议 / disputed by hospital")


class InvoiceLine(models.Model):
    """发票明细: a blue line (sale) or a red line (reversal of part or all of a blue line).

    Key: (invoice_code, invoice_no, line_no); invoice_code is "" for 20-digit 全电 invoices.
    ``delivery_line`` is null when the referenced delivery line does not exist
    (matching reports NO_DELIVERY); the raw reference is kept in delivery_no/delivery_line_no.
    """

    invoice_code = models.CharField(_("发票代码 / invoice code"), max_length=12, blank=True, default="")
    invoice_no = models.CharField(_("发票号码 / invoice no"), max_length=20)
    line_no = models.PositiveIntegerField(_("发票明细号 / line no"))
    kind = models.CharField(_("发票类型 / kind"), max_length=4, choices=InvoiceKind.choices)
    original_invoice_code = models.CharField(_("原蓝字发票代码 / original invoice code"), max_length=12, blank=True, default="")
    original_invoice_no = models.CharField(_("原蓝字发票号码 / original invoice no"), max_length=20, blank=True, default="")
    # Served by the (hospital, match_status) and (distributor, kind, issued_at) indexes below; no
    # separate FK indexes on this bulk table (each index is paid for on every imported row).
    distributor = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="invoice_lines", db_index=False)
    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="invoice_lines", db_index=False)
    delivery_no = models.CharField(_("配送单号 / delivery no"), max_length=40)
    delivery_line_no = models.PositiveIntegerField(_("配送明细号 / delivery line no"))
    # No index of its own: look-ups go by (delivery_no, delivery_line_no) (indexed below) and
    # delivery lines are never deleted; the alert scan's NOT EXISTS becomes a hash anti-join.
    delivery_line = models.ForeignKey(
        DeliveryLine, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice_lines", db_index=False
    )
    qty = models.IntegerField(_("数量 / quantity"))  # packages; negative on red lines
    unit_price = unit_price_field(_("单价(含税) / unit price"))
    amount = amount_field(_("金额(价税合计) / amount"))  # negative on red lines
    tax_rate = models.DecimalField(_("税率 / tax rate"), max_digits=5, decimal_places=4)
    issued_at = models.DateField(_("开票日期 / issued"))

    # Matching results (settlement.services.matching writes these).
    reverses = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals", db_index=False
    )  # red line → the blue line it reverses; partial index below (red lines only)
    net_qty = models.IntegerField(null=True, blank=True)  # blue: qty + Σ its red lines
    net_amount = amount_field(_("净额 / net amount"), null=True, blank=True)
    match_status = models.CharField(
        _("对账状态 / match status"), max_length=10, choices=MatchStatus.choices, default=MatchStatus.PENDING
    )
    exception_codes = models.CharField(_("异常代码 / exception codes"), max_length=200, blank=True, default="")
    matched_at = models.DateTimeField(null=True, blank=True)
    # The acceptance date of its delivery line (when it accepted anything) as matching last saw
    # it: the receivables age every line by it, read from the distributor's index alone instead
    # of joining each line's delivery line (settlement.selectors.receivables).
    accepted_on = models.DateField(_("验收日期 / accepted on"), null=True, blank=True, editable=False)
    # Statement (对账单) the matched line was gathered into; set once, kept when the line is disputed.
    statement = models.ForeignKey(
        "settlement.Statement", null=True, blank=True, on_delete=models.PROTECT, related_name="lines", db_index=False
    )  # partial index below: lines on a statement
    dispute_reason = models.TextField(_("异议原因 / dispute reason"), blank=True, default="")

    class Meta:
        verbose_name = _("发票明细 / invoice line")
        verbose_name_plural = _("发票 / invoices")
        constraints = [
            models.UniqueConstraint(fields=["invoice_code", "invoice_no", "line_no"], name="invoice_line_natural_key"),
            models.CheckConstraint(
                name="invoice_sign_by_kind",
                condition=Q(kind="blue", qty__gt=0, amount__gte=0)
                | Q(kind="red", qty__lt=0, amount__lte=0) & ~Q(original_invoice_no=""),
            ),
            models.CheckConstraint(name="invoice_tax_rate_range", condition=Q(tax_rate__gte=0, tax_rate__lt=1)),
            models.CheckConstraint(name="invoice_red_reverses_other", condition=Q(reverses__isnull=True) | ~Q(reverses=F("id"))),
        ]
        indexes = [
            models.Index(fields=["delivery_no", "delivery_line_no"]),
            models.Index(fields=["hospital", "match_status"]),
            # An enterprise's line list (blue lines in the list's order: newest invoice first, then
            # the natural key) and its count, and its receivables (with the included columns,
            # PostgreSQL), are read from this index alone, not from its lines spread over the
            # table's pages: a deep page skips index entries.
            models.Index(
                fields=["distributor", "kind", "-issued_at", "invoice_code", "invoice_no", "line_no"],
                include=["id", "accepted_on", "hospital", "match_status", "amount", "net_amount"],
                name="invoice_line_by_distributor",
            ),
            # Partial: an index entry costs on every imported and every re-matched row (a match
            # result is never a HOT update), and only red lines / lines on a statement are looked up
            # this way (``reverses_id = …``, ``statement_id = …`` imply IS NOT NULL for the planner).
            models.Index(
                fields=["original_invoice_code", "original_invoice_no"],
                condition=Q(kind="red"),
                name="invoice_line_red_original",
            ),
            models.Index(fields=["reverses"], condition=Q(reverses__isnull=False), name="invoice_line_reverses"),
            models.Index(fields=["statement"], condition=Q(statement__isnull=False), name="invoice_line_statement"),
            # The lines a statement build gathers (matched blue lines on no statement): few at any
            # time, since a pass gathers what it matches, but found without it by reading the whole
            # table — per receipt confirmed on a page, each of which builds its region's statements.
            models.Index(
                fields=["hospital"],
                condition=Q(kind="blue", match_status="matched", statement__isnull=True),
                name="invoice_line_unassigned",
            ),
        ]

    @property
    def display_no(self) -> str:
        """As on exports: paper invoices are ``invoice_code-invoice_no``."""
        return f"{self.invoice_code}-{self.invoice_no}" if self.invoice_code else self.invoice_no


class FundAllocation(models.Model):
    """医保基金应拨付额: what the fund owes a hospital for a month; direct settlement deducts from it."""

    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="fund_allocations")
    period = models.CharField(_("结算期 / period"), max_length=7)  # YYYY-MM
    amount = amount_field(_("应拨付金额 / amount"))

    class Meta:
        verbose_name = _("医保基金应拨付额 / fund allocation")
        verbose_name_plural = _("医保基金应拨付额 / fund allocations")
        constraints = [
            models.UniqueConstraint(fields=["hospital", "period"], name="fund_allocation_natural_key"),
            models.CheckConstraint(name="fund_allocation_nonnegative", condition=Q(amount__gte=0)),
            models.CheckConstraint(name="fund_allocation_period_format", condition=Q(period__regex=r"^\d{4}-(0[1-9]|1[0-2])$")),
        ]


class DocumentCounter(models.Model):
    """Per kind and year, the last number issued; advanced under a row lock with F()."""

    kind = models.CharField(max_length=20)
    year = models.PositiveIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "year"], name="document_counter_key")]
