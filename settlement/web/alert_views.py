"""Pages of the alerts feature: the alert inbox and detail (every role, scoped), the
bureau's late-payment board with its drill-down, the 通报 list with prepayment recovery,
and the user's notifications."""

from __future__ import annotations

import importlib
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from parties.models import Hospital, Role
from parties.web.access import has_role, role_required
from settlement.models import AlertKind, AlertSeverity, AlertStatus, PaymentStage, Responsible
from settlement.models.alerts import PRICE_KINDS
from settlement.selectors.alerts import (
    alert_get_or_404,
    alerts_for,
    late_payment_board,
    notice_list,
    overdue_by_hospital,
)
from settlement.selectors.notifications import notifications_for
from settlement.services import alert_engine
from settlement.services.alert_engine import AlertTransitionError, can_transition
from settlement.services.notifications import notifications_mark_read

PAGE_SIZE = 50
BOARD_ROLES = (Role.BUREAU_OPERATOR, Role.BUREAU_APPROVER, Role.ADMIN)
VERDICT_ROLES = (Role.PRICE_ANALYST, Role.ADMIN)

MSG_DONE = "已处理 {n} 条预警 / {n} alerts updated"
MSG_REFUSED = "{n} 条预警未处理（状态或类型不允许） / {n} alerts left as they were (status or kind does not allow it)"
MSG_NOTHING_SELECTED = "请选择预警 / select alerts first"
MSG_RECOVERED = "已收回预付金 {amount} 元 / prepayment recovered: {amount} yuan"
MSG_RECOVERY_UNAVAILABLE = "预付金收回功能尚未提供 / prepayment recovery is not available yet"
MSG_NOT_LISTED = "该医院不在通报名单中 / this hospital is not on the notice list"
MSG_READ = "通知已标记为已读 / notifications marked read"

FILTERS = ("kind", "severity", "status", "stage", "responsible", "hospital")


def _filters(request) -> dict:
    return {name: request.GET.get(name) or None for name in FILTERS}


@login_required
def alert_list(request):
    filters = _filters(request)
    try:
        qs = alerts_for(request.user, **filters)
    except ValueError as exc:
        messages.error(request, str(exc))
        filters = dict.fromkeys(FILTERS)
        qs = alerts_for(request.user)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    may_verdict = has_role(request.user, VERDICT_ROLES)
    return render(
        request,
        "settlement/alert_list.html",
        {
            "page": page,
            "filters": filters,
            "kinds": AlertKind.choices,
            "severities": AlertSeverity.choices,
            "statuses": AlertStatus.choices,
            "stages": PaymentStage.choices,
            "responsibles": Responsible.choices,
            "may_verdict": may_verdict,
            "price_kinds": {str(k) for k in PRICE_KINDS},
            "query": request.GET.urlencode() if request.GET else "",
        },
    )


@login_required
def alert_detail(request, alert_no: str):
    alert = alert_get_or_404(request.user, alert_no, request=request)
    events = alert.events.select_related("user").order_by("at", "id")
    may_verdict = has_role(request.user, VERDICT_ROLES) and alert.is_price_kind
    return render(
        request,
        "settlement/alert_detail.html",
        {
            "alert": alert,
            "events": events,
            "can_acknowledge": alert.status == AlertStatus.OPEN,
            "can_resolve": has_role(request.user, BOARD_ROLES)
            and alert.status in (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED),
            "can_verdict": may_verdict
            and can_transition(alert, alert_engine.Action.CONFIRMED)
            and alert.status not in ("confirmed", "dismissed"),
        },
    )


@require_POST
@login_required
def alert_action(request, alert_no: str, action: str):
    alert = alert_get_or_404(request.user, alert_no, request=request)
    if action not in alert_engine.ACTIONS:
        raise Http404
    if action in ("confirm", "dismiss") and not has_role(request.user, VERDICT_ROLES):
        raise PermissionDenied
    if action == "resolve" and not has_role(request.user, BOARD_ROLES):
        raise PermissionDenied
    service = {
        "acknowledge": alert_engine.alert_acknowledge,
        "confirm": alert_engine.alert_confirm,
        "dismiss": alert_engine.alert_dismiss,
        "resolve": alert_engine.alert_resolve,
    }[action]
    try:
        service(alert_no=alert.alert_no, user=request.user, reason=request.POST.get("reason", ""))
    except AlertTransitionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _(MSG_DONE).format(n=1))
    return redirect("alert-detail", alert_no=alert.alert_no)


@require_POST
@login_required
def alert_bulk(request):
    """Bulk acknowledge, or (analysts) bulk confirm/dismiss with one reason."""
    action = request.POST.get("action", "")
    nos = request.POST.getlist("alert_no")
    back = reverse("alert-list") + ("?" + request.POST.get("query") if request.POST.get("query") else "")
    if action not in ("acknowledge", "confirm", "dismiss"):
        raise Http404
    if action != "acknowledge" and not has_role(request.user, VERDICT_ROLES):
        raise PermissionDenied
    if not nos:
        messages.error(request, _(MSG_NOTHING_SELECTED))
        return redirect(back)
    visible = list(alerts_for(request.user).filter(alert_no__in=nos).values_list("alert_no", flat=True))
    try:
        result = alert_engine.alerts_bulk_transition(
            alert_nos=visible, user=request.user, action=action, reason=request.POST.get("reason", "")
        )
    except AlertTransitionError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(request, _(MSG_DONE).format(n=len(result.changed)))
    if result.refused:
        messages.warning(request, _(MSG_REFUSED).format(n=len(result.refused)))
    return redirect(back)


# --- late-payment board -------------------------------------------------------------------


@role_required(*BOARD_ROLES)
def late_payment_board_view(request):
    board = late_payment_board(request.user)
    top = overdue_by_hospital(request.user, limit=20)
    widest = max((s.amount for s in board.stages), default=Decimal(0)) or Decimal(1)
    bars = [{"stage": s, "width": (s.amount * 100 / widest).quantize(Decimal("0.1"))} for s in board.stages]
    return render(
        request,
        "settlement/late_payment_board.html",
        {"board": board, "bars": bars, "hospitals": top, "responsibles": dict(Responsible.choices)},
    )


@role_required(*BOARD_ROLES)
def late_payment_lines(request):
    stage = request.GET.get("stage") or None
    responsible = request.GET.get("responsible") or None
    hospital = request.GET.get("hospital") or None
    try:
        qs = alerts_for(
            request.user,
            kind=AlertKind.PAYMENT_OVERDUE,
            stage=stage,
            responsible=responsible,
            hospital=hospital,
            active_only=True,
        ).order_by("-value", "alert_no")
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("late-payment-board")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "settlement/late_payment_lines.html",
        {
            "page": page,
            "stage": PaymentStage(stage).label if stage else "",
            "responsible": Responsible(responsible).label if responsible else "",
            "hospital": hospital or "",
            "query": "&".join(
                f"{k}={v}" for k, v in (("stage", stage), ("responsible", responsible), ("hospital", hospital)) if v
            ),
        },
    )


# --- 通报 list ------------------------------------------------------------------------------


def _recover_function():
    """procurement.services.prepayments.prepayment_recover, once the batch feature provides it."""
    try:
        module = importlib.import_module("procurement.services.prepayments")
    except ModuleNotFoundError:
        return None
    return getattr(module, "prepayment_recover", None)


@role_required(*BOARD_ROLES)
def notice_list_view(request):
    entries = notice_list(request.user, as_of=timezone.localdate())
    return render(
        request,
        "settlement/notice_list.html",
        {"entries": entries, "can_recover": _recover_function() is not None},
    )


@require_POST
@role_required(*BOARD_ROLES)
def notice_recover(request, hospital_code: str):
    entries = {e.hospital_code: e for e in notice_list(request.user, as_of=timezone.localdate())}
    if hospital_code not in entries:
        if not Hospital.objects.filter(code=hospital_code).exists():
            raise Http404
        messages.error(request, _(MSG_NOT_LISTED))
        return redirect("notice-list")
    recover = _recover_function()
    if recover is None:
        messages.error(request, _(MSG_RECOVERY_UNAVAILABLE))
        return redirect("notice-list")
    reason = request.POST.get("reason", "").strip() or "; ".join(entries[hospital_code].reasons)
    try:
        amount = recover(hospital_code=hospital_code, user=request.user, reason=reason)
    except Exception as exc:  # noqa: BLE001 - the batch feature's refusal (SettlementError) or a domain ValueError
        if exc.__class__.__name__ not in ("SettlementError", "ValueError", "PermissionError"):
            raise
        messages.error(request, getattr(exc, "message", str(exc)))
    else:
        messages.success(request, _(MSG_RECOVERED).format(amount=amount))
    return redirect("notice-list")


# --- notifications --------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def notifications_view(request):
    if request.method == "POST":
        ids = request.POST.getlist("id")
        notifications_mark_read(user=request.user, notification_ids=[int(i) for i in ids if i.isdigit()] or None)
        messages.success(request, _(MSG_READ))
        return redirect("notifications")
    page = Paginator(notifications_for(request.user).select_related("alert"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "settlement/alert_notifications.html", {"page": page})
