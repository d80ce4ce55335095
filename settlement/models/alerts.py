"""预警 / alerts raised by the daily scans, their history, and in-app notifications.

One alert per (kind, subject_type, subject_key, period) — the database holds it — so a
re-scan updates an alert instead of duplicating it (settlement.services.alert_engine).
Subjects are named by their natural keys (INTERCHANGE.md "alerts"), not by foreign keys:
an alert outlives the row it is about and the price scans name aggregates
(hospital/product, product/region) that have no row of their own.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from procurement.models import amount_field


class AlertKind(models.TextChoices):
    PAYMENT_DUE_SOON = "PAYMENT_DUE_SOON", _("即将到期 / payment due soon")
    PAYMENT_OVERDUE = "PAYMENT_OVERDUE", _("逾期未付 / payment overdue")
    RECEIPT_PENDING = "RECEIPT_PENDING", _("验收超时 / receipt pending")
    STATEMENT_UNCONFIRMED = "STATEMENT_UNCONFIRMED", _("对账单逾期未确认 / statement unconfirmed")
    COLLECTION_OVERDUE = "COLLECTION_OVERDUE", _("托收逾期 / collection overdue")
    AGREEMENT_BEHIND = "AGREEMENT_BEHIND", _("约定采购量进度滞后 / agreement behind")
    SUPPLY_DELAY = "SUPPLY_DELAY", _("供应延迟 / supply delay")
    PRICE_ABOVE_AWARD = "PRICE_ABOVE_AWARD", _("高于中选价 / price above award")
    PRICE_ABOVE_LISTING = "PRICE_ABOVE_LISTING", _("高于挂网价 / price above listing")
    LISTING_ABOVE_REFERENCE = "LISTING_ABOVE_REFERENCE", _("挂网价高于参考价 / listing above reference")
    PRICE_SPIKE = "PRICE_SPIKE", _("价格异常上涨 / price spike")
    PRICE_OUTLIER = "PRICE_OUTLIER", _("价格离群 / price outlier")
    RETAIL_ABOVE_LISTING = "RETAIL_ABOVE_LISTING", _("零售价高于挂网价 / retail above listing")


# Price kinds are reviewed by analysts (confirm / dismiss with a reason).
PRICE_KINDS = frozenset(
    {
        AlertKind.PRICE_ABOVE_AWARD,
        AlertKind.PRICE_ABOVE_LISTING,
        AlertKind.LISTING_ABOVE_REFERENCE,
        AlertKind.PRICE_SPIKE,
        AlertKind.PRICE_OUTLIER,
        AlertKind.RETAIL_ABOVE_LISTING,
    }
)


class AlertSeverity(models.TextChoices):
    LOW = "low", _("低 / low")
    MEDIUM = "medium", _("中 / medium")
    HIGH = "high", _("高 / high")
    CRITICAL = "critical", _("严重 / critical")


SEVERITY_RANK = {AlertSeverity.LOW: 1, AlertSeverity.MEDIUM: 2, AlertSeverity.HIGH: 3, AlertSeverity.CRITICAL: 4}


class AlertStatus(models.TextChoices):
    OPEN = "open", _("待处理 / open")  # the condition holds and nobody has answered yet
    ACKNOWLEDGED = "acknowledged", _("已知悉 / acknowledged")  # someone took note; still tracked by scans
    RESOLVED = "resolved", _("已解除 / resolved")  # the condition cleared (scan) or was closed by hand
    CONFIRMED = "confirmed", _("已确认 / confirmed")  # price kinds: an analyst confirmed it (with a reason)
    DISMISSED = "dismissed", _("已排除 / dismissed")  # price kinds: an analyst dismissed it (with a reason)


# Scans track (update, escalate, auto-resolve) alerts in these statuses.
ACTIVE_STATUSES = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)
# An analyst's verdict is final: scans neither resolve nor reopen these.
FINAL_STATUSES = (AlertStatus.CONFIRMED, AlertStatus.DISMISSED)


class SubjectType(models.TextChoices):
    INVOICE_LINE = "invoice_line", _("发票明细 / invoice line")
    DELIVERY_LINE = "delivery_line", _("配送明细 / delivery line")
    ORDER_LINE = "order_line", _("订单明细 / order line")
    STATEMENT = "statement", _("对账单 / statement")
    COLLECTION = "collection", _("托收单 / collection order")
    AGREEMENT = "agreement", _("约定采购协议 / agreement")
    HOSPITAL_PRODUCT = "hospital_product", _("医院/产品 / hospital and product")
    PRODUCT_REGION = "product_region", _("产品/地区 / product and region")


class PaymentStage(models.TextChoices):
    """Where the money of an unpaid line is held (PAYMENT_* alerts)."""

    AWAITING_INVOICE = "awaiting_invoice", _("待开票 / awaiting invoice")
    EXCEPTION = "exception", _("对账异常 / matching exception")
    AWAITING_HOSPITAL_CONFIRMATION = "awaiting_hospital_confirmation", _("待医院确认 / awaiting hospital confirmation")
    AWAITING_BATCH = "awaiting_batch", _("待纳入结算批次 / awaiting batch")
    AWAITING_APPROVAL = "awaiting_approval", _("待审核 / awaiting approval")
    AWAITING_BANK = "awaiting_bank", _("待银行支付 / awaiting bank")


class Responsible(models.TextChoices):
    ENTERPRISE = "enterprise", _("企业 / enterprise")
    HOSPITAL = "hospital", _("医院 / hospital")
    BUREAU = "bureau", _("经办机构 / bureau")
    BANK = "bank", _("银行 / bank")


class Alert(models.Model):
    """A condition found by a scan about one subject (and month, for price kinds)."""

    alert_no = models.CharField(_("预警编号 / alert no"), max_length=20, unique=True)
    kind = models.CharField(_("类型 / kind"), max_length=30, choices=AlertKind.choices)
    severity = models.CharField(_("级别 / severity"), max_length=10, choices=AlertSeverity.choices)
    status = models.CharField(_("状态 / status"), max_length=12, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    subject_type = models.CharField(_("对象类型 / subject type"), max_length=20, choices=SubjectType.choices)
    subject_key = models.CharField(_("对象 / subject"), max_length=120)
    period = models.CharField(_("月份 / period"), max_length=7, blank=True, default="")  # YYYY-MM, price kinds only
    # Where the subject belongs and who is concerned: codes, not FKs (see module docstring).
    region_code = models.CharField(_("地区 / region"), max_length=6)
    hospital_code = models.CharField(_("医疗机构 / hospital"), max_length=12, blank=True, default="")
    enterprise_code = models.CharField(_("企业 / enterprise"), max_length=18, blank=True, default="")
    responsible = models.CharField(
        _("责任方 / responsible"), max_length=10, choices=Responsible.choices, blank=True, default=""
    )
    stage = models.CharField(_("环节 / stage"), max_length=32, choices=PaymentStage.choices, blank=True, default="")
    # The measured value against its threshold (days, rates or prices: see each kind's scan).
    value = models.DecimalField(_("值 / value"), max_digits=20, decimal_places=4, null=True, blank=True)
    threshold = models.DecimalField(_("阈值 / threshold"), max_digits=20, decimal_places=4, null=True, blank=True)
    amount = amount_field(_("涉及金额 / amount"), null=True, blank=True)  # yuan; money concerned (payment kinds)
    message = models.TextField(_("说明 / message"), blank=True, default="")
    evidence = models.JSONField(_("依据 / evidence"), default=dict, blank=True)  # JSON-safe, Decimals as strings
    first_seen_on = models.DateField(_("首次发现 / first seen on"))  # scan date D that raised it
    last_seen_on = models.DateField(_("最近发现 / last seen on"))  # last scan date D that found it
    created_at = models.DateTimeField(_("创建时间 / created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间 / updated at"), auto_now=True)
    resolved_at = models.DateTimeField(_("解除时间 / resolved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("预警 / alert")
        verbose_name_plural = _("预警 / alerts")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject_type", "subject_key", "period"], name="alert_one_per_subject"
            ),
            models.CheckConstraint(
                name="alert_period_format", condition=Q(period="") | Q(period__regex=r"^\d{4}-(0[1-9]|1[0-2])$")
            ),
            models.CheckConstraint(
                name="alert_verdict_only_on_price_kinds",
                condition=~Q(status__in=["confirmed", "dismissed"]) | Q(kind__in=sorted(k.value for k in PRICE_KINDS)),
            ),
            models.CheckConstraint(
                name="alert_resolved_has_when", condition=~Q(status="resolved") | Q(resolved_at__isnull=False)
            ),
        ]
        indexes = [
            models.Index(fields=["kind", "region_code", "status"], name="alert_partition_idx"),
            models.Index(fields=["hospital_code", "status"], name="alert_hospital_idx"),
            models.Index(fields=["enterprise_code", "status"], name="alert_enterprise_idx"),
            models.Index(fields=["region_code", "status", "kind"], name="alert_region_idx"),
            # The alert lists page newest first (-created_at, -id): a page reads the index
            # in order instead of sorting every alert of the region. With the scope and the
            # common filters included (PostgreSQL), a page's ids are picked from the index alone,
            # so a deep page skips index entries, not heap rows (AlertListView).
            models.Index(
                fields=["-created_at", "-id"],
                include=["region_code", "status", "kind", "severity"],
                name="alert_created_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alert_no} {self.kind} {self.subject_key}"

    @property
    def is_price_kind(self) -> bool:
        return self.kind in PRICE_KINDS


class AlertTally(models.Model):
    """How many alerts each region has, as signed deltas (PostgreSQL; elsewhere unused).

    Triggers on the alert table append one row per region per INSERT or DELETE statement,
    and two per change of an alert's region (``ALERT_TALLY_SQL``), so no writer waits for another's
    commit (several workers' syncs insert at once); ``fold_alert_tally`` sums the rows
    into one per region. Σ n over a region prefix = the region's alerts, exactly, in any
    snapshot: the inbox of a province's analyst counts them from here instead of reading
    every entry of an index (360k alerts at M: 37-50 ms a page view).
    """

    region_code = models.CharField(max_length=12)
    n = models.BigIntegerField()

    class Meta:
        verbose_name = _("预警计数 / alert tally")


# Installed after migrate (settlement.models.ledger installs the triggers), so a schema built
# from the models has it too; migration 0013 counted the alerts there were.
ALERT_TALLY_SQL = """
CREATE OR REPLACE FUNCTION jicai_alert_tally() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO settlement_alerttally (region_code, n)
      SELECT region_code, count(*) FROM jicai_new_alerts GROUP BY region_code;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO settlement_alerttally (region_code, n)
      SELECT region_code, -count(*) FROM jicai_old_alerts GROUP BY region_code;
  END IF;
  RETURN NULL;
END; $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS alert_tally_insert ON settlement_alert;
CREATE TRIGGER alert_tally_insert AFTER INSERT ON settlement_alert
  REFERENCING NEW TABLE AS jicai_new_alerts FOR EACH STATEMENT EXECUTE FUNCTION jicai_alert_tally();
DROP TRIGGER IF EXISTS alert_tally_delete ON settlement_alert;
CREATE TRIGGER alert_tally_delete AFTER DELETE ON settlement_alert
  REFERENCING OLD TABLE AS jicai_old_alerts FOR EACH STATEMENT EXECUTE FUNCTION jicai_alert_tally();
-- A change of region, row by row: the WHEN clause is checked without calling the function,
-- so a sync's bulk UPDATE of other columns costs nothing here (and captures no rows).
CREATE OR REPLACE FUNCTION jicai_alert_tally_moved() RETURNS trigger AS $$
BEGIN
  INSERT INTO settlement_alerttally (region_code, n) VALUES (OLD.region_code, -1), (NEW.region_code, 1);
  RETURN NULL;
END; $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS alert_tally_update ON settlement_alert;
CREATE TRIGGER alert_tally_update AFTER UPDATE ON settlement_alert
  FOR EACH ROW WHEN (OLD.region_code IS DISTINCT FROM NEW.region_code)
  EXECUTE FUNCTION jicai_alert_tally_moved();
"""


class AlertEvent(models.Model):
    """A row per change of an alert: who (null = a scan), when, what, why."""

    class Action(models.TextChoices):
        CREATED = "created", _("发现 / created")
        ESCALATED = "escalated", _("升级 / escalated")
        DEESCALATED = "deescalated", _("降级 / de-escalated")
        STAGE_CHANGED = "stage_changed", _("环节变化 / stage changed")
        RESOLVED = "resolved", _("解除 / resolved")
        REOPENED = "reopened", _("重新出现 / reopened")
        ACKNOWLEDGED = "acknowledged", _("知悉 / acknowledged")
        CONFIRMED = "confirmed", _("确认 / confirmed")
        DISMISSED = "dismissed", _("排除 / dismissed")

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    as_of = models.DateField(null=True, blank=True)  # the scan date D, for scan-made changes
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    from_status = models.CharField(max_length=12, blank=True, default="")
    to_status = models.CharField(max_length=12, blank=True, default="")
    from_severity = models.CharField(max_length=10, blank=True, default="")
    to_severity = models.CharField(max_length=10, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    changes = models.JSONField(default=dict, blank=True)  # field → [old, new] for stage/party changes

    class Meta:
        verbose_name = _("预警记录 / alert event")
        verbose_name_plural = _("预警记录 / alert events")
        ordering = ["at", "id"]


class Notification(models.Model):
    """站内通知 / an in-app notice to one user; e-mailed in a digest after the scan commits."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=30, blank=True, default="")  # the alert kind, for grouping in the digest
    reason = models.CharField(max_length=16, blank=True, default="")  # created / escalated / reopened
    title = models.CharField(_("标题 / title"), max_length=200)
    body = models.TextField(_("内容 / body"), blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(_("已读时间 / read at"), null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)  # set when the digest carrying it was sent

    class Meta:
        verbose_name = _("站内通知 / notification")
        verbose_name_plural = _("站内通知 / notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "read_at"], name="notification_unread_idx"),
            models.Index(fields=["emailed_at", "user"], name="notification_digest_idx"),
        ]
