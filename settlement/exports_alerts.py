"""Output table ``alerts`` (INTERCHANGE.md "Output tables"), scoped to the caller.

Imported by settlement/exports.py (the registry autodiscovers each app's ``exports``).
"""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from interchange.exports import register_export
from parties.identifiers import region_prefix
from settlement.selectors.alerts import scoped_alerts

ALERTS_COLUMNS = (
    "alert_no",
    "kind",
    "severity",
    "status",
    "subject_type",
    "subject_key",
    "period",
    "value",
    "threshold",
    "message",
    "created_at",
)


def plain(value: Decimal | None) -> Decimal | None:
    """7.0000 → 7, 0.2668 stays: the stored 4 places without noise."""
    if value is None:
        return None
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


@register_export("alerts", columns=ALERTS_COLUMNS, filters=("region", "period", "kind", "status"))
def alerts_rows(*, user, region: str | None = None, period: str | None = None, kind=None, status=None, **_unused):
    qs = scoped_alerts(user)
    if region:
        qs = qs.filter(region_code__startswith=region_prefix(region))
    if period:
        qs = qs.filter(period=period)
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    rows = qs.order_by("alert_no").values_list(*ALERTS_COLUMNS)
    for row in rows.iterator(chunk_size=5000):
        *head, value, threshold, message, created_at = row
        yield (
            *head,
            plain(value),
            plain(threshold),
            message,
            timezone.localtime(created_at).isoformat(timespec="seconds"),
        )
