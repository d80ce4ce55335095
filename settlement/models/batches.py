"""Settlement batches (结算批次), payment instructions (支付指令), bank confirmations
(银行回单) and collection orders (托收单).

Each document has a ``TextChoices`` status, an explicit transition table and an event
row per transition (who, when, why). The database holds what it can:

- a line is in at most one *live* batch (partial unique index on ``invoice_line`` where
  ``live``; a rejected or cancelled batch sets ``live=False`` on its lines);
- four eyes: the approver (or rejecter) of a batch is never its maker (CheckConstraint,
  so it binds superusers and raw SQL too);
- one live instruction per batch and distributor, one confirmation per instruction, a
  bank reference is used once, one collection order per batch and hospital.

Approved batches and their lines are immutable (model ``save``/``delete`` guards, and a
trigger on PostgreSQL: ``settlement.models.ledger.install_immutability_triggers``). A line
is paid when its distributor's instruction in its batch is: the line carries no paid mark
of its own (``BatchLineQuerySet.paid``), so a bank confirmation writes one instruction, not
every line it pays.

Money: Decimal yuan with 2 places (interchange.money); services compute in integer fen.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils.translation import gettext_lazy as _

from parties.models import Enterprise, Hospital, Region
from procurement.models import amount_field

MSG_IMMUTABLE_BATCH = _("已审核的批次及其明细不可修改 / an approved batch and its lines cannot be changed")


class BatchStatus(models.TextChoices):
    DRAFT = "draft", _("草稿 / draft")  # built by an operator; its lines are reserved
    SUBMITTED = "submitted", _("待审核 / submitted")  # awaiting a different bureau approver
    APPROVED = "approved", _("已审核 / approved")  # funded, instructions issued; immutable
    REJECTED = "rejected", _("已退回 / rejected")  # lines released (live=False), reason recorded
    CANCELLED = "cancelled", _("已撤销 / cancelled")  # a draft withdrawn by its operator; lines released
    PAID = "paid", _("已支付 / paid")  # every payment instruction confirmed paid


# from → {to: action}. Nothing else is allowed; services consult this table only.
BATCH_TRANSITIONS: dict[str, dict[str, str]] = {
    BatchStatus.DRAFT: {BatchStatus.SUBMITTED: "submit", BatchStatus.CANCELLED: "cancel"},
    BatchStatus.SUBMITTED: {BatchStatus.APPROVED: "approve", BatchStatus.REJECTED: "reject"},
    BatchStatus.APPROVED: {BatchStatus.PAID: "pay"},
    BatchStatus.REJECTED: {},
    BatchStatus.CANCELLED: {},
    BatchStatus.PAID: {},
}
# Statuses whose lines are frozen (matching never changes them again) and funded.
FROZEN_BATCH_STATUSES = (BatchStatus.APPROVED, BatchStatus.PAID)
# Statuses whose lines hold their invoice line (live=True).
LIVE_BATCH_STATUSES = (BatchStatus.DRAFT, BatchStatus.SUBMITTED, BatchStatus.APPROVED, BatchStatus.PAID)


def batch_can_transition(from_status: str, to_status: str) -> bool:
    return to_status in BATCH_TRANSITIONS.get(from_status, {})


class SettlementBatch(models.Model):
    """结算批次: confirmed lines of hospitals in ``region`` accepted on or before ``cutoff``.

    ``period`` (YYYY-MM of the cut-off) is the fund-allocation month it deducts from.
    The four totals are filled at approval; amount = deducted + prepayment + collection.
    """

    no = models.CharField(_("批次号 / batch no"), max_length=30, unique=True)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="settlement_batches")
    cutoff = models.DateField(_("截止验收日期 / cut-off"))
    period = models.CharField(_("结算期 / period"), max_length=7)  # YYYY-MM of cutoff
    status = models.CharField(_("状态 / status"), max_length=10, choices=BatchStatus.choices, default=BatchStatus.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rejected_at = models.DateTimeField(null=True, blank=True)
    reject_reason = models.TextField(_("退回原因 / reject reason"), blank=True, default="")
    paid_at = models.DateTimeField(null=True, blank=True)
    line_count = models.PositiveIntegerField(default=0)
    amount = amount_field(_("批次金额 / amount"), default=0)
    deducted_amount = amount_field(_("基金抵扣 / deducted"), default=0)
    prepayment_amount = amount_field(_("预付金抵扣 / from prepayment"), default=0)
    collection_amount = amount_field(_("托收 / collection"), default=0)
    # What creation split the lines' funding against: hospital → [fund allocation, prepayment]
    # available then, in fen. Approval splits again only when other amounts are available by
    # then (settlement.services.funding.batch_fund).
    funding_basis = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        verbose_name = _("结算批次 / settlement batch")
        verbose_name_plural = _("结算批次 / settlement batches")
        ordering = ["-created_at", "-id"]
        constraints = [
            # Four eyes, held by the database: binds superusers and every code path.
            models.CheckConstraint(
                name="batch_four_eyes_approval",
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("created_by")),
            ),
            models.CheckConstraint(
                name="batch_four_eyes_rejection",
                condition=Q(rejected_by__isnull=True) | ~Q(rejected_by=F("created_by")),
            ),
            models.CheckConstraint(
                name="batch_approved_has_who_when",
                condition=~Q(status__in=["approved", "paid"]) | Q(approved_by__isnull=False, approved_at__isnull=False),
            ),
            models.CheckConstraint(
                name="batch_rejected_has_reason",
                condition=~Q(status="rejected") | (Q(rejected_by__isnull=False) & ~Q(reject_reason="")),
            ),
            models.CheckConstraint(name="batch_period_format", condition=Q(period__regex=r"^\d{4}-(0[1-9]|1[0-2])$")),
        ]
        indexes = [models.Index(fields=["period", "status"]), models.Index(fields=["region", "status"])]

    def __str__(self) -> str:
        return self.no

    @property
    def is_frozen(self) -> bool:
        return self.status in FROZEN_BATCH_STATUSES

    def can_submit(self) -> bool:
        return batch_can_transition(self.status, BatchStatus.SUBMITTED)

    def can_approve(self, user) -> bool:
        """The status allows it and ``user`` is not the maker (the role is checked by the service)."""
        return batch_can_transition(self.status, BatchStatus.APPROVED) and user.pk != self.created_by_id

    def can_reject(self, user) -> bool:
        return batch_can_transition(self.status, BatchStatus.REJECTED) and user.pk != self.created_by_id


class BatchEvent(models.Model):
    """A row per batch transition: who, when, from → to, why."""

    batch = models.ForeignKey(SettlementBatch, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=20)  # create / submit / approve / reject / cancel / pay
    from_status = models.CharField(max_length=10, blank=True, default="")
    to_status = models.CharField(max_length=10, blank=True, default="")
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["at", "id"]


def paid_instruction():
    """The paid instruction of the outer batch line (its batch and distributor), for EXISTS."""
    return PaymentInstruction.objects.filter(
        batch_id=OuterRef("batch_id"), distributor_id=OuterRef("distributor_id"), status=InstructionStatus.PAID
    )


class BatchLineQuerySet(models.QuerySet):
    """A line is paid when the instruction of its batch and distributor is paid: every
    line of a (batch, distributor) is paid by that one instruction, at its ``paid_at``.
    One instruction counts per (batch, distributor) (instruction_one_live_per_batch_distributor),
    and only an approved batch has instructions, so a paid line is live and funded."""

    def paid(self):
        return self.filter(Exists(paid_instruction()))

    def unpaid(self):
        return self.filter(~Exists(paid_instruction()))

    def with_paid_at(self):
        """Annotate ``paid_at``: the paying instruction's time, None while unpaid."""
        return self.annotate(paid_at=Subquery(paid_instruction().values("paid_at")[:1]))


class BatchLine(models.Model):
    """One invoice line of a batch. Blue lines are positive; a red line (reversal) is a
    negative line, netted against the same distributor's payment.

    ``amount`` is the invoice line's own amount; the three funding parts add up to it
    exactly. Creation splits it against what is available then (the batch's
    ``funding_basis``); approval keeps that split, or splits again if other amounts are
    available by then. Lines written before creation planned the split have nulls until
    approval. A line is paid when its distributor's instruction in the batch is confirmed
    paid (``BatchLineQuerySet.paid``); the line itself is written once, at creation (and
    again only when approval splits its funding anew). ``hospital``/``distributor`` are
    copied from the invoice line so funding and payment work set-based on this table alone.
    """

    # No FK indexes for batch, hospital, distributor (see Meta.indexes): a BRIN index serves
    # batch on PostgreSQL, and a party's lines are reached through its invoice lines (a
    # batch's whole line set is written at creation, and each B-tree index costs on every
    # row; the varchar FKs even had two each).
    # Batch and invoice line are checked set-based on PostgreSQL instead of by a foreign-key
    # constraint (settlement.models.ledger, trigger batchline_parents): the constraint's two
    # probes per line at COMMIT, each locking its parent row, were ≈ 55 s of a 2.76M-line
    # province batch. The trigger checks every INSERT statement's new rows in one anti-join,
    # refuses a change of either column, and refuses deleting an invoice line or a batch
    # that batch lines name; Django's PROTECT still holds in the ORM.
    batch = models.ForeignKey(
        SettlementBatch, on_delete=models.PROTECT, related_name="lines", db_index=False, db_constraint=False
    )
    # Look-ups by invoice line ask for the live one: the partial unique index
    # batch_line_one_live_batch serves them, and a party's live lines through its invoice
    # lines; look-ups within a batch go by the BRIN index on batch.
    invoice_line = models.ForeignKey(
        "settlement.InvoiceLine",
        on_delete=models.PROTECT,
        related_name="batch_lines",
        db_index=False,
        db_constraint=False,
    )
    live = models.BooleanField(default=True)  # False once the batch is rejected or cancelled
    # Copied from the invoice line by batch_create's INSERT … SELECT: the invoice line's own
    # foreign keys already guarantee both, so no second per-row check at COMMIT (≈ 40 s of
    # a province batch at M). Hospitals and enterprises are never deleted (PROTECT).
    hospital = models.ForeignKey(
        Hospital, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    distributor = models.ForeignKey(
        Enterprise, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    amount = amount_field(_("金额 / amount"))  # negative for a red line
    due_date = models.DateField(_("应付日期 / due date"))
    deducted_amount = amount_field(_("基金抵扣 / deducted"), null=True, blank=True)
    prepayment_amount = amount_field(_("预付金抵扣 / from prepayment"), null=True, blank=True)
    collection_amount = amount_field(_("托收 / collection"), null=True, blank=True)

    objects = BatchLineQuerySet.as_manager()

    class Meta:
        verbose_name = _("结算批次明细 / batch line")
        verbose_name_plural = _("结算批次明细 / batch lines")
        constraints = [
            # A line is in at most one live batch. Within a batch it is there once: a batch's
            # lines are all live from creation until it is rejected or cancelled, after which
            # it gets no line again (so no separate (batch, invoice_line) unique index, one
            # more index entry per line of a province batch).
            models.UniqueConstraint(fields=["invoice_line"], condition=Q(live=True), name="batch_line_one_live_batch"),
            models.CheckConstraint(
                name="batch_line_funding_all_or_none",
                condition=Q(
                    deducted_amount__isnull=True, prepayment_amount__isnull=True, collection_amount__isnull=True
                )
                | Q(deducted_amount__isnull=False, prepayment_amount__isnull=False, collection_amount__isnull=False),
            ),
            models.CheckConstraint(
                name="batch_line_parts_nonnegative",
                condition=Q(prepayment_amount__isnull=True) | Q(prepayment_amount__gte=0, collection_amount__gte=0),
            ),
        ]
        # One B-tree index besides the key: the one-live-batch index (each B-tree index
        # costs 3–5 s of a province batch of 2.76M lines at L). A batch's lines, of one
        # distributor too (instructions, payment), are read through a BRIN index on
        # batch_id, PostgreSQL only (installed after migrate: models.ledger): a batch's
        # lines are written by one INSERT, so they lie in a run of pages of their own, and
        # the BRIN index costs next to nothing to keep (batch_create summarises the new
        # pages). A party's lines are found through its invoice lines' indexes and the
        # one-live-batch index (parties.scoping.BATCH_LINE): the same hospital and
        # distributor, already indexed there.
        indexes = []

    def save(self, *args, **kwargs):
        if self.pk and self.batch.is_frozen:
            raise ValueError(str(MSG_IMMUTABLE_BATCH))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.batch.is_frozen:
            raise ValueError(str(MSG_IMMUTABLE_BATCH))
        return super().delete(*args, **kwargs)


class InstructionStatus(models.TextChoices):
    ISSUED = "issued", _("已发送银行 / issued")  # sent to the bank, awaiting its confirmation
    PAID = "paid", _("已支付 / paid")  # the bank confirmed success; its lines are paid
    FAILED = "failed", _("支付失败 / failed")  # the bank refused; lines unpaid; may be reissued
    REISSUED = "reissued", _("已重新签发 / reissued")  # replaced by a new instruction (new number)


INSTRUCTION_TRANSITIONS: dict[str, dict[str, str]] = {
    InstructionStatus.ISSUED: {InstructionStatus.PAID: "pay", InstructionStatus.FAILED: "fail"},
    InstructionStatus.FAILED: {InstructionStatus.REISSUED: "reissue"},
    InstructionStatus.PAID: {},
    InstructionStatus.REISSUED: {},
}
LIVE_INSTRUCTION_STATUSES = (InstructionStatus.ISSUED, InstructionStatus.PAID, InstructionStatus.FAILED)


def instruction_can_transition(from_status: str, to_status: str) -> bool:
    return to_status in INSTRUCTION_TRANSITIONS.get(from_status, {})


class PaymentInstruction(models.Model):
    """支付指令: what the fund pays one distributor for one batch (Σ its lines there).

    Bank details are copied from the enterprise when issued; a failed instruction is
    replaced (after the details are fixed) by a new one with a new number, ``replaces``
    pointing at it. Immutable once issued except for its status and confirmation fields.
    """

    no = models.CharField(_("支付指令号 / instruction no"), max_length=30, unique=True)
    batch = models.ForeignKey(SettlementBatch, on_delete=models.PROTECT, related_name="instructions")
    distributor = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="payment_instructions")
    payee_name = models.CharField(_("收款人 / payee"), max_length=200)
    bank_name = models.CharField(_("开户银行 / bank"), max_length=200, blank=True, default="")
    bank_account = models.CharField(_("银行账号 / bank account"), max_length=30, blank=True, default="")
    amount = amount_field(_("金额 / amount"))
    status = models.CharField(
        _("状态 / status"), max_length=10, choices=InstructionStatus.choices, default=InstructionStatus.ISSUED
    )
    issued_at = models.DateTimeField(auto_now_add=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    bank_ref = models.CharField(_("银行流水号 / bank reference"), max_length=60, blank=True, default="")
    failure_reason = models.TextField(blank=True, default="")
    replaces = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by")

    class Meta:
        verbose_name = _("支付指令 / payment instruction")
        verbose_name_plural = _("支付指令 / payment instructions")
        ordering = ["batch_id", "no"]
        constraints = [
            # One instruction that still counts per batch and distributor.
            models.UniqueConstraint(
                fields=["batch", "distributor"],
                condition=Q(status__in=["issued", "paid", "failed"]),
                name="instruction_one_live_per_batch_distributor",
            ),
            models.UniqueConstraint(fields=["bank_ref"], condition=~Q(bank_ref=""), name="instruction_bank_ref_once"),
            models.CheckConstraint(name="instruction_amount_positive", condition=Q(amount__gt=0)),
            models.CheckConstraint(
                name="instruction_paid_has_when",
                condition=~Q(status="paid") | Q(paid_at__isnull=False),
            ),
        ]
        # "Is this batch line paid?" (BatchLineQuerySet.paid): one probe per line, answered
        # from this small index alone, without reading the instruction row.
        indexes = [
            models.Index(
                fields=["batch", "distributor"], condition=Q(status="paid"), name="instruction_paid_batch_dist"
            )
        ]

    def __str__(self) -> str:
        return self.no


class InstructionEvent(models.Model):
    """A row per instruction transition (issue / pay / fail / reissue)."""

    instruction = models.ForeignKey(PaymentInstruction, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=20)
    from_status = models.CharField(max_length=10, blank=True, default="")
    to_status = models.CharField(max_length=10, blank=True, default="")
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["at", "id"]


class ConfirmationStatus(models.TextChoices):
    SUCCESS = "success", _("成功 / success")
    FAILED = "failed", _("失败 / failed")


class PaymentConfirmation(models.Model):
    """银行支付回单 as received (INTERCHANGE.md ``payment_confirmations``); key instruction_no.

    Loading the same confirmation again finds this row and changes nothing.
    """

    instruction = models.OneToOneField(PaymentInstruction, on_delete=models.PROTECT, related_name="confirmation")
    instruction_no = models.CharField(max_length=30, unique=True)
    payee_credit_code = models.CharField(max_length=18)
    amount = amount_field(_("金额 / amount"))
    status = models.CharField(max_length=10, choices=ConfirmationStatus.choices)
    paid_at = models.DateTimeField()
    bank_ref = models.CharField(max_length=60, blank=True, default="")
    source = models.CharField(max_length=300, blank=True, default="")  # file name or "api"
    imported_at = models.DateTimeField(auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("银行支付回单 / payment confirmation")
        verbose_name_plural = _("银行支付回单 / payment confirmations")
        constraints = [
            models.UniqueConstraint(
                fields=["bank_ref"], condition=Q(status="success"), name="confirmation_bank_ref_unique"
            ),
            models.CheckConstraint(
                name="confirmation_success_has_bank_ref",
                condition=~Q(status="success") | ~Q(bank_ref=""),
            ),
        ]


class CollectionStatus(models.TextChoices):
    ISSUED = "issued", _("已开具 / issued")  # the hospital owes it (amount − cleared)
    PAID = "paid", _("已收款 / paid")  # paid by the hospital, or cleared against its prepayment


COLLECTION_TRANSITIONS: dict[str, dict[str, str]] = {
    CollectionStatus.ISSUED: {CollectionStatus.PAID: "pay"},
    CollectionStatus.PAID: {},
}


class CollectionOrder(models.Model):
    """托收单: what the fund collects from a hospital for its share of a batch that
    neither its fund allocation nor its prepayment covered.

    ``cleared_amount`` is the part offset against the hospital's prepayment at year-end
    clearing; the hospital pays the rest. ``due_date`` = issue date + COLLECTION_TERM_DAYS.
    """

    no = models.CharField(_("托收单号 / collection no"), max_length=30, unique=True)
    batch = models.ForeignKey(SettlementBatch, on_delete=models.PROTECT, related_name="collections")
    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="collection_orders")
    amount = amount_field(_("托收金额 / amount"))
    cleared_amount = amount_field(_("预付金冲抵 / cleared against prepayment"), default=0)
    status = models.CharField(
        _("状态 / status"), max_length=10, choices=CollectionStatus.choices, default=CollectionStatus.ISSUED
    )
    issued_at = models.DateTimeField(auto_now_add=True)
    due_date = models.DateField(_("应付日期 / due date"))
    paid_at = models.DateTimeField(null=True, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    bank_ref = models.CharField(max_length=60, blank=True, default="")

    class Meta:
        verbose_name = _("托收单 / collection order")
        verbose_name_plural = _("托收单 / collection orders")
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "hospital"], name="collection_per_batch_hospital"),
            models.CheckConstraint(name="collection_amount_positive", condition=Q(amount__gt=0)),
            models.CheckConstraint(name="collection_cleared_nonnegative", condition=Q(cleared_amount__gte=0)),
            models.CheckConstraint(
                name="collection_paid_has_when", condition=~Q(status="paid") | Q(paid_at__isnull=False)
            ),
        ]
        indexes = [models.Index(fields=["hospital", "status"])]

    def __str__(self) -> str:
        return self.no


class CollectionEvent(models.Model):
    """A row per collection-order transition or clearing: who, when, why."""

    collection = models.ForeignKey(CollectionOrder, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=20)  # issue / pay / clear
    from_status = models.CharField(max_length=10, blank=True, default="")
    to_status = models.CharField(max_length=10, blank=True, default="")
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["at", "id"]
