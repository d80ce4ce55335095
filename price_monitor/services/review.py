"""Analysts' verdicts on price alerts, one by one or in bulk: confirm or dismiss, with a reason.

Each transition is the alert engine's (settlement.services.alert_engine): it locks the
alert, checks its status, writes the history row (who, when, why). The bulk version
locks every named alert in pk order first and applies all or nothing, so two analysts
reviewing overlapping selections never deadlock and never half-apply a selection.
Replaying a verdict already given is a no-op (idempotent).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from settlement.models import Alert
from settlement.services.alert_engine import AlertTransitionError, alert_confirm, alert_dismiss

DECISION_CONFIRM = "confirm"
DECISION_DISMISS = "dismiss"
DECISIONS = {DECISION_CONFIRM: alert_confirm, DECISION_DISMISS: alert_dismiss}
REVIEW_MAX_ALERTS = 500

MSG_REASON_REQUIRED = _("须填写原因 / a reason is required")
MSG_BAD_DECISION = _("无效的处理决定 / decision must be confirm or dismiss")
MSG_NO_ALERTS = _("未选择预警 / no alert selected")
MSG_TOO_MANY = _("一次最多处理 {n} 条预警 / at most {n} alerts at once")
MSG_UNKNOWN_ALERTS = _("预警不存在 / unknown alerts: {nos}")
MSG_ALERT_REFUSED = _("预警 {no}: {detail}")


class ReviewError(Exception):
    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class ReviewResult:
    decision: str
    alert_nos: tuple[str, ...]
    changed: int  # alerts whose status changed (a replayed verdict does not count)


@transaction.atomic
def price_alerts_review(*, alert_nos: Iterable[str], decision: str, reason: str, user) -> ReviewResult:
    """Confirm or dismiss every alert of ``alert_nos`` with one reason, all or nothing."""
    nos = tuple(sorted({str(n).strip() for n in alert_nos if str(n).strip()}))
    reason = (reason or "").strip()
    if decision not in DECISIONS:
        raise ReviewError(str(MSG_BAD_DECISION), "invalid_decision")
    if not reason:
        raise ReviewError(str(MSG_REASON_REQUIRED), "reason_required")
    if not nos:
        raise ReviewError(str(MSG_NO_ALERTS), "no_alerts")
    if len(nos) > REVIEW_MAX_ALERTS:
        raise ReviewError(str(MSG_TOO_MANY).format(n=REVIEW_MAX_ALERTS), "too_many")
    locked = list(
        Alert.objects.select_for_update().filter(alert_no__in=nos).order_by("pk").values_list("alert_no", "status")
    )
    missing = sorted(set(nos) - {no for no, _s in locked})
    if missing:
        raise ReviewError(str(MSG_UNKNOWN_ALERTS).format(nos=", ".join(missing)), "not_found")
    transition = DECISIONS[decision]
    changed = 0
    for no, before in locked:
        try:
            alert = transition(alert_no=no, reason=reason, user=user)
        except AlertTransitionError as exc:
            raise ReviewError(str(MSG_ALERT_REFUSED).format(no=no, detail=exc.message), exc.code) from None
        changed += alert.status != before
    return ReviewResult(decision=decision, alert_nos=nos, changed=changed)
