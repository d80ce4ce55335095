"""对账单: matched lines of one hospital × distributor × month of acceptance."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from parties.models import Enterprise, Hospital


class StatementStatus(models.TextChoices):
    OPEN = "open", _("待确认 / awaiting confirmation")  # the hospital has not answered yet
    CONFIRMED = "confirmed", _("已确认 / confirmed")  # the hospital confirmed; its undisputed lines are settleable


class Statement(models.Model):
    """A monthly statement; ``supplementary`` ones gather lines matched after the first was confirmed."""

    no = models.CharField(_("对账单号 / statement no"), max_length=30, unique=True)
    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="statements")
    distributor = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="statements")
    period = models.CharField(_("对账月份 / month of acceptance"), max_length=7)  # YYYY-MM
    sequence = models.PositiveSmallIntegerField(default=0)  # 0 = the month's first, 1.. = supplementary
    status = models.CharField(_("状态 / status"), max_length=10, choices=StatementStatus.choices, default=StatementStatus.OPEN)
    deadline = models.DateField(_("确认截止日 / confirm by"))  # STATEMENT_CONFIRM_DAY of the following month
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("对账单 / statement")
        verbose_name_plural = _("对账单 / statements")
        constraints = [
            models.UniqueConstraint(fields=["hospital", "distributor", "period", "sequence"], name="statement_per_party_month"),
            models.CheckConstraint(
                name="statement_confirmed_has_who_when",
                condition=Q(status="open") | Q(confirmed_at__isnull=False),
            ),
        ]

    @property
    def supplementary(self) -> bool:
        return self.sequence > 0


class StatementEvent(models.Model):
    """A row per transition of a statement or a disputed line: who, when, what, why."""

    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=20)  # created / line_added / confirmed / disputed
    from_status = models.CharField(max_length=10, blank=True, default="")
    to_status = models.CharField(max_length=10, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    invoice_line = models.ForeignKey("settlement.InvoiceLine", null=True, blank=True, on_delete=models.PROTECT, related_name="+")


