"""Reads of alerts: who may see which (scoping), lists with filters, the late-payment
board (overdue money by stage and responsible party) and the 通报 list.

Scoping of the Alert family (codes on the alert, not FKs — see settlement.models.alerts):
an enterprise sees the alerts about its own money (``enterprise_code``), a hospital
those it is responsible for or concerned by (``hospital_code``), bureau staff and price
analysts their region and below (``region_code`` prefix), admins everything.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from parties.models import Hospital, Role
from parties.scoping import MSG_NOT_FOUND, NOTHING, sees_everything, user_region_prefix
from settlement.models import (
    Alert,
    AlertKind,
    AlertSeverity,
    AlertStatus,
    AlertTally,
    PaymentStage,
    Responsible,
    Statement,
    StatementStatus,
    SubjectType,
)
from settlement.models.alerts import ACTIVE_STATUSES

# The Alert family's party fields (parties.scoping style: one dict per family).
ALERT = {"hospital": "hospital_code", "enterprise": "enterprise_code", "region": "region_code"}

MSG_BAD_KIND = _("未知预警类型 / unknown alert kind")
MSG_BAD_SEVERITY = _("未知预警级别 / unknown severity")
MSG_BAD_STATUS = _("未知预警状态 / unknown alert status")
MSG_BAD_STAGE = _("未知环节 / unknown stage")
MSG_BAD_RESPONSIBLE = _("未知责任方 / unknown responsible party")
MSG_BAD_SUBJECT_TYPE = _("未知对象类型 / unknown subject type")

# 通报: a hospital with this many late statement confirmations (within the look-back) is listed.
NOTICE_LATE_STATEMENTS = 2
NOTICE_LOOKBACK_DAYS = 365


def alert_scope_q(user) -> Q:
    """The alerts ``user`` may see."""
    if user is None or not user.is_authenticated or not user.is_active:
        return NOTHING
    if sees_everything(user):
        return Q()
    if user.role == Role.HOSPITAL:
        return Q(**{ALERT["hospital"]: user.hospital_id}) if user.hospital_id else NOTHING
    if user.role == Role.ENTERPRISE:
        return Q(**{ALERT["enterprise"]: user.enterprise_id}) if user.enterprise_id else NOTHING
    prefix = user_region_prefix(user)
    if prefix is None:
        return NOTHING
    return Q(**{f"{ALERT['region']}__startswith": prefix})


def scoped_alerts(user) -> QuerySet[Alert]:
    return Alert.objects.filter(alert_scope_q(user))


def alert_count_by_tally(user) -> int | None:
    """The number of alerts ``user`` may see, from the tally (``AlertTally``): PostgreSQL, a user
    whose scope is a region prefix (or everything). None otherwise: count the alerts instead."""
    if connection.vendor != "postgresql" or user is None or not user.is_authenticated or not user.is_active:
        return None
    if sees_everything(user):
        prefix = ""
    elif user.role in (Role.HOSPITAL, Role.ENTERPRISE):
        return None
    else:
        prefix = user_region_prefix(user)
        if prefix is None:
            return None
    total = AlertTally.objects.filter(region_code__startswith=prefix).aggregate(n=Sum("n"))["n"]
    return int(total or 0)


def fold_alert_tally() -> None:
    """Sum the tally's rows into one per region (PostgreSQL). Never waits: it takes the rows it
    can lock (SKIP LOCKED: another fold's, in a transaction not yet committed, stay as they are),
    deletes them and writes back their sums in the same transaction; rows appended meanwhile
    stay. So every snapshot still sums to the same count."""
    if connection.vendor != "postgresql":
        return
    table = AlertTally._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"WITH gone AS (DELETE FROM {table} WHERE id IN "  # noqa: S608 - the model's table
            f"(SELECT id FROM {table} FOR UPDATE SKIP LOCKED) RETURNING region_code, n) "
            f"INSERT INTO {table} (region_code, n) SELECT region_code, sum(n) FROM gone "
            "GROUP BY region_code HAVING sum(n) <> 0"
        )


def _check(value: str | None, allowed, message) -> None:
    if value and value not in allowed:
        raise ValueError(str(message))


def alerts_for(
    user,
    *,
    kind: str | None = None,
    severity: str | None = None,
    status: str | None = None,
    stage: str | None = None,
    responsible: str | None = None,
    subject_type: str | None = None,
    hospital: str | None = None,
    period: str | None = None,
    active_only: bool = False,
) -> QuerySet[Alert]:
    """The alerts ``user`` may see, filtered; newest first. ValueError on an unknown filter value.

    ``status`` may list several values separated by commas (``open,acknowledged``).
    """
    statuses = [s for s in (status or "").split(",") if s]
    _check(kind, AlertKind.values, MSG_BAD_KIND)
    _check(severity, AlertSeverity.values, MSG_BAD_SEVERITY)
    for s in statuses:
        _check(s, AlertStatus.values, MSG_BAD_STATUS)
    _check(stage, PaymentStage.values, MSG_BAD_STAGE)
    _check(responsible, Responsible.values, MSG_BAD_RESPONSIBLE)
    _check(subject_type, SubjectType.values, MSG_BAD_SUBJECT_TYPE)
    qs = scoped_alerts(user)
    if kind:
        qs = qs.filter(kind=kind)
    if severity:
        qs = qs.filter(severity=severity)
    if statuses:
        qs = qs.filter(status__in=statuses)
    elif active_only:
        qs = qs.filter(status__in=ACTIVE_STATUSES)
    if stage:
        qs = qs.filter(stage=stage)
    if responsible:
        qs = qs.filter(responsible=responsible)
    if subject_type:
        qs = qs.filter(subject_type=subject_type)
    if hospital:
        qs = qs.filter(hospital_code=hospital)
    if period:
        qs = qs.filter(period=period)
    return qs.order_by("-created_at", "-id")


def alert_get_or_404(user, alert_no: str, *, request=None) -> Alert:
    """The alert if ``user`` may see it, else Http404 (recorded when it exists: another party's)."""
    try:
        return scoped_alerts(user).get(alert_no=alert_no)
    except Alert.DoesNotExist:
        if Alert.objects.filter(alert_no=alert_no).exists():
            from parties.services.security import KIND_NOT_FOUND_SCOPE, security_event_record

            security_event_record(kind=KIND_NOT_FOUND_SCOPE, user=user, request=request, detail=f"Alert: {alert_no}")
        raise Http404(MSG_NOT_FOUND) from None


# ---------------------------------------------------------------------------
# Late-payment board (bureau): open PAYMENT_OVERDUE money by stage and responsible party.
# ---------------------------------------------------------------------------

STAGE_ORDER = list(PaymentStage.values)


@dataclass(frozen=True)
class StageTotal:
    stage: str
    responsible: str
    lines: int
    amount: Decimal  # yuan
    medium: int
    high: int
    critical: int

    @property
    def stage_label(self):
        return PaymentStage(self.stage).label if self.stage in PaymentStage.values else self.stage

    @property
    def responsible_label(self):
        return Responsible(self.responsible).label if self.responsible in Responsible.values else self.responsible


@dataclass
class Board:
    stages: list[StageTotal] = field(default_factory=list)
    by_responsible: dict[str, dict] = field(default_factory=dict)  # party → {"lines", "amount"}
    total_lines: int = 0
    total_amount: Decimal = Decimal("0.00")


def late_payment_board(user, *, hospital: str | None = None) -> Board:
    """One GROUP BY over the open overdue alerts the user may see."""
    qs = scoped_alerts(user).filter(kind=AlertKind.PAYMENT_OVERDUE, status__in=ACTIVE_STATUSES)
    if hospital:
        qs = qs.filter(hospital_code=hospital)
    rows = (
        qs.order_by()
        .values("stage", "responsible")
        .annotate(
            lines=Count("id"),
            amount=Sum("amount"),
            medium=Count("id", filter=Q(severity=AlertSeverity.MEDIUM)),
            high=Count("id", filter=Q(severity=AlertSeverity.HIGH)),
            critical=Count("id", filter=Q(severity=AlertSeverity.CRITICAL)),
        )
    )
    board = Board()
    for r in rows:
        amount = r["amount"] or Decimal("0.00")
        board.stages.append(
            StageTotal(
                stage=r["stage"],
                responsible=r["responsible"],
                lines=r["lines"],
                amount=amount,
                medium=r["medium"],
                high=r["high"],
                critical=r["critical"],
            )
        )
        party = board.by_responsible.setdefault(r["responsible"], {"lines": 0, "amount": Decimal("0.00")})
        party["lines"] += r["lines"]
        party["amount"] += amount
        board.total_lines += r["lines"]
        board.total_amount += amount
    board.stages.sort(key=lambda s: STAGE_ORDER.index(s.stage) if s.stage in STAGE_ORDER else 99)
    return board


def overdue_by_hospital(user, *, limit: int = 50) -> list[dict]:
    """Hospitals holding the most overdue money (responsible = hospital), for the board."""
    rows = (
        scoped_alerts(user)
        .filter(kind=AlertKind.PAYMENT_OVERDUE, status__in=ACTIVE_STATUSES)
        .exclude(hospital_code="")
        .order_by()
        .values("hospital_code")
        .annotate(
            lines=Count("id"),
            overdue=Sum("amount"),
            held=Sum("amount", filter=Q(responsible=Responsible.HOSPITAL)),
        )
        .order_by(F("overdue").desc(nulls_last=True), "hospital_code")[:limit]
    )
    rows = list(rows)
    names = dict(Hospital.objects.filter(code__in=[r["hospital_code"] for r in rows]).values_list("code", "name"))
    for r in rows:
        r["hospital_name"] = names.get(r["hospital_code"], "")
    return rows


# ---------------------------------------------------------------------------
# 通报 list: hospitals with overdue collections or repeated late statement confirmations.
# ---------------------------------------------------------------------------


@dataclass
class NoticeEntry:
    hospital_code: str
    hospital_name: str = ""
    region_code: str = ""
    overdue_collections: int = 0
    overdue_collection_amount: Decimal = Decimal("0.00")
    late_statements: int = 0
    reasons: list[str] = field(default_factory=list)


MSG_REASON_COLLECTION = "托收单逾期未缴 / overdue collection order"
MSG_REASON_STATEMENTS = "多次逾期确认对账单 / repeated late statement confirmations"


def notice_list(user, *, as_of: dt.date) -> list[NoticeEntry]:
    """Hospitals to name (通报): an open COLLECTION_OVERDUE alert, or at least
    NOTICE_LATE_STATEMENTS statements confirmed after their deadline (or still open past
    it) with deadlines in the last NOTICE_LOOKBACK_DAYS. Three queries."""
    if user.role in (Role.HOSPITAL, Role.ENTERPRISE) and not sees_everything(user):
        return []
    collections = (
        scoped_alerts(user)
        .filter(kind=AlertKind.COLLECTION_OVERDUE, status__in=ACTIVE_STATUSES)
        .order_by()
        .values("hospital_code")
        .annotate(n=Count("id"), amount=Sum("amount"))
    )
    statement_scope = Q()
    prefix = user_region_prefix(user)
    if not sees_everything(user):
        statement_scope = Q(hospital__region__code__startswith=prefix) if prefix else NOTHING
    late = (
        Statement.objects.filter(statement_scope, deadline__gte=as_of - dt.timedelta(days=NOTICE_LOOKBACK_DAYS))
        .filter(
            Q(status=StatementStatus.CONFIRMED, confirmed_at__date__gt=F("deadline"))
            | Q(status=StatementStatus.OPEN, deadline__lt=as_of)
        )
        .order_by()
        .values("hospital_id")
        .annotate(n=Count("id"))
        .filter(n__gte=NOTICE_LATE_STATEMENTS)
    )
    entries: dict[str, NoticeEntry] = {}
    for r in collections:
        e = entries.setdefault(r["hospital_code"], NoticeEntry(hospital_code=r["hospital_code"]))
        e.overdue_collections = r["n"]
        e.overdue_collection_amount = r["amount"] or Decimal("0.00")
        e.reasons.append(MSG_REASON_COLLECTION)
    for r in late:
        e = entries.setdefault(r["hospital_id"], NoticeEntry(hospital_code=r["hospital_id"]))
        e.late_statements = r["n"]
        e.reasons.append(MSG_REASON_STATEMENTS)
    for code, name, region in Hospital.objects.filter(code__in=list(entries)).values_list("code", "name", "region_id"):
        entries[code].hospital_name, entries[code].region_code = name, region
    return sorted(entries.values(), key=lambda e: (-e.overdue_collection_amount, -e.late_statements, e.hospital_code))
