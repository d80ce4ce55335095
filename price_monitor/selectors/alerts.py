"""Price alerts as analysts and enterprises see them: scoped lists, filters, the credit record.

Scope (parties.scoping rules applied to alerts, which name parties by code):
admins see everything; bureau staff and price analysts the alerts whose region lies in
their region; an enterprise its *confirmed* alerts only (its credit record: an open
alert is an analyst's suspicion, not yet a finding against it); hospitals none.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Max, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from parties.identifiers import region_prefix
from parties.models import BUREAU_ROLES, Enterprise, Hospital, Role
from parties.scoping import MSG_NOT_FOUND, NOTHING, sees_everything, user_region_prefix
from procurement.models import Product
from settlement.models import Alert, AlertStatus
from settlement.models.alerts import PRICE_KINDS

PRICE_KIND_VALUES = tuple(sorted(str(k) for k in PRICE_KINDS))
REVIEWABLE_STATUSES = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)


# 医药价格和招采信用评价: the level of one confirmed alert by its severity, and of an
# enterprise by its worst level, one step up when it has CREDIT_ESCALATE_COUNT or more
# confirmed alerts at that level (repeated misconduct). Module constants, as the credit
# catalogue (国家医保局 医药价格和招采信用评价目录清单) is national, not regional.
class CreditLevel:
    NONE = ""
    GENERAL = "general"  # 失信 (一般)
    SERIOUS = "serious"  # 严重失信
    PARTICULARLY_SERIOUS = "particularly_serious"  # 特别严重失信


CREDIT_LEVEL_LABELS = {
    CreditLevel.NONE: _("无 / none"),
    CreditLevel.GENERAL: _("失信 / untrustworthy"),
    CreditLevel.SERIOUS: _("严重失信 / seriously untrustworthy"),
    CreditLevel.PARTICULARLY_SERIOUS: _("特别严重失信 / particularly seriously untrustworthy"),
}
CREDIT_LEVEL_ORDER = (CreditLevel.NONE, CreditLevel.GENERAL, CreditLevel.SERIOUS, CreditLevel.PARTICULARLY_SERIOUS)
CREDIT_LEVEL_BY_SEVERITY = {
    "low": CreditLevel.GENERAL,
    "medium": CreditLevel.GENERAL,
    "high": CreditLevel.SERIOUS,
    "critical": CreditLevel.PARTICULARLY_SERIOUS,
}
CREDIT_ESCALATE_COUNT = 3


def credit_level(severity_counts: dict[str, int]) -> str:
    """The enterprise's level from its confirmed alerts counted by severity."""
    by_level: Counter = Counter()
    for severity, n in severity_counts.items():
        by_level[CREDIT_LEVEL_BY_SEVERITY.get(severity, CreditLevel.GENERAL)] += n
    worst = max((lvl for lvl, n in by_level.items() if n), key=CREDIT_LEVEL_ORDER.index, default=CreditLevel.NONE)
    if worst and by_level[worst] >= CREDIT_ESCALATE_COUNT and worst != CreditLevel.PARTICULARLY_SERIOUS:
        worst = CREDIT_LEVEL_ORDER[CREDIT_LEVEL_ORDER.index(worst) + 1]
    return worst


def price_alert_scope_q(user) -> Q:
    if not user.is_authenticated or not user.is_active:
        return NOTHING
    if sees_everything(user):
        return Q()
    if user.role in BUREAU_ROLES:
        prefix = user_region_prefix(user)
        return NOTHING if prefix is None else Q(region_code__startswith=prefix)
    if user.role == Role.ENTERPRISE and user.enterprise_id:
        return Q(enterprise_code=user.enterprise_id, status=AlertStatus.CONFIRMED)
    return NOTHING


def price_alerts_visible(user) -> QuerySet[Alert]:
    return Alert.objects.filter(kind__in=PRICE_KIND_VALUES).filter(price_alert_scope_q(user))


def product_q(code: str) -> Q:
    """Alerts about a product: ``hospital/product`` or ``product/region`` subject keys."""
    return Q(subject_key__endswith=f"/{code}", subject_type="hospital_product") | Q(
        subject_key__startswith=f"{code}/", subject_type="product_region"
    )


def price_alerts_filtered(
    user,
    *,
    kind: str = "",
    severity: str = "",
    status: str | tuple[str, ...] = REVIEWABLE_STATUSES,
    product: str = "",
    hospital: str = "",
    enterprise: str = "",
    period: str = "",
    region: str = "",
) -> QuerySet[Alert]:
    qs = price_alerts_visible(user)
    if kind:
        qs = qs.filter(kind=kind)
    if severity:
        qs = qs.filter(severity=severity)
    if status:
        qs = qs.filter(status__in=(status,) if isinstance(status, str) else status)
    if product:
        qs = qs.filter(product_q(product))
    if hospital:
        qs = qs.filter(hospital_code=hospital)
    if enterprise:
        qs = qs.filter(enterprise_code=enterprise)
    if period:
        qs = qs.filter(period=period)
    if region:
        qs = qs.filter(region_code__startswith=region_prefix(region) if len(region) == 6 else region)
    return qs.order_by("-last_seen_on", "kind", "subject_key", "pk")


def product_code_of(alert: Alert) -> str:
    parts = alert.subject_key.split("/")
    return parts[1] if alert.subject_type == "hospital_product" else parts[0]


@dataclass
class Names:
    """Display names for a page of alerts: three queries whatever the page size."""

    products: dict[str, str] = field(default_factory=dict)
    hospitals: dict[str, str] = field(default_factory=dict)
    enterprises: dict[str, str] = field(default_factory=dict)


def names_for(alerts: list[Alert]) -> Names:
    products = {product_code_of(a) for a in alerts}
    hospitals = {a.hospital_code for a in alerts if a.hospital_code}
    enterprises = {a.enterprise_code for a in alerts if a.enterprise_code}
    names = Names()
    if products:
        names.products = {p.code: str(p) for p in Product.objects.filter(code__in=products)}
    if hospitals:
        names.hospitals = dict(Hospital.objects.filter(code__in=hospitals).values_list("code", "name"))
    if enterprises:
        names.enterprises = dict(
            Enterprise.objects.filter(credit_code__in=enterprises).values_list("credit_code", "name")
        )
    return names


# --------------------------------------------------------------------------- credit record


@dataclass(frozen=True)
class CreditSummary:
    enterprise_code: str
    enterprise_name: str
    confirmed: int
    by_severity: dict[str, int]
    by_kind: dict[str, int]
    level: str
    last_confirmed_period: str

    @property
    def level_label(self):
        return CREDIT_LEVEL_LABELS[self.level]


def confirmed_alerts(user) -> QuerySet[Alert]:
    return price_alerts_visible(user).filter(status=AlertStatus.CONFIRMED).exclude(enterprise_code="")


def credit_summaries(user, *, enterprise: str = "") -> list[CreditSummary]:
    """Per enterprise with confirmed price alerts (in the user's scope): counts and level.
    Two aggregate queries and one for names, whatever the number of enterprises."""
    qs = confirmed_alerts(user)
    if enterprise:
        qs = qs.filter(enterprise_code=enterprise)
    sev: dict[str, dict[str, int]] = defaultdict(dict)
    kinds: dict[str, dict[str, int]] = defaultdict(dict)
    last: dict[str, str] = {}
    for code, severity, n, latest in (
        qs.values_list("enterprise_code", "severity").annotate(n=Count("id"), latest=Max("period")).order_by()
    ):
        sev[code][severity] = n
        last[code] = max(last.get(code, ""), latest or "")
    for code, kind, n in qs.values_list("enterprise_code", "kind").annotate(n=Count("id")).order_by():
        kinds[code][kind] = n
    names = dict(Enterprise.objects.filter(credit_code__in=list(sev)).values_list("credit_code", "name"))
    out = [
        CreditSummary(
            enterprise_code=code,
            enterprise_name=names.get(code, ""),
            confirmed=sum(counts.values()),
            by_severity=dict(counts),
            by_kind=dict(kinds[code]),
            level=credit_level(counts),
            last_confirmed_period=last.get(code, ""),
        )
        for code, counts in sev.items()
    ]
    out.sort(key=lambda s: (-CREDIT_LEVEL_ORDER.index(s.level), -s.confirmed, s.enterprise_code))
    return out


def credit_record(user, *, enterprise_code: str) -> tuple[CreditSummary | None, QuerySet[Alert]]:
    """One enterprise's summary and its confirmed alerts (newest first)."""
    alerts = confirmed_alerts(user).filter(enterprise_code=enterprise_code).order_by("-period", "kind", "pk")
    summaries = credit_summaries(user, enterprise=enterprise_code)
    return (summaries[0] if summaries else None), alerts


def price_alert_or_404(user, alert_no: str, *, request=None) -> Alert:
    """The price alert ``alert_no`` if ``user`` may see it; else 404 (another party's alert
    is recorded as a security event, its existence never disclosed)."""
    try:
        return price_alerts_visible(user).get(alert_no=alert_no)
    except Alert.DoesNotExist:
        _record_out_of_scope(user, request, Alert.objects.filter(alert_no=alert_no, kind__in=PRICE_KIND_VALUES))
        raise Http404(MSG_NOT_FOUND) from None


def price_alerts_or_404(user, alert_nos, *, request=None) -> list[str]:
    """All of ``alert_nos`` when the user may see every one; else 404 for the lot."""
    nos = sorted({str(n) for n in alert_nos})
    visible = set(price_alerts_visible(user).filter(alert_no__in=nos).values_list("alert_no", flat=True))
    hidden = [n for n in nos if n not in visible]
    if hidden:
        _record_out_of_scope(user, request, Alert.objects.filter(alert_no__in=hidden))
        raise Http404(MSG_NOT_FOUND)
    return nos


def _record_out_of_scope(user, request, qs) -> None:
    if qs.exists():
        from parties.services.security import KIND_NOT_FOUND_SCOPE, security_event_record

        security_event_record(kind=KIND_NOT_FOUND_SCOPE, user=user, request=request, detail="price alert")
