"""Pages of the batches feature: batch builder (preview → create → submit), batch review
and approval (four eyes), payments and failures (reissue), collection orders,
prepayments, and the enterprise receivables dashboard (ageing chart drawn as SVG).

Views parse, call one service and render; a refused action comes back as a message.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from parties.models import Role
from procurement.services.prepayments import prepayment_pay, prepayment_recover, prepayments_compute
from settlement.api.batch_views import bank_file_response
from settlement.models import BatchStatus
from settlement.selectors.batches import (
    batch_lines_for,
    batch_summary,
    batches_for,
    collections_for,
    instructions_for,
    prepayment_rows,
)
from settlement.selectors.receivables import BUCKETS, ageing_totals, expected_pay_dates, receivables_ageing
from settlement.services.batch_rules import APPROVER_ROLES, OPERATOR_ROLES, SettlementError
from settlement.services.batches import (
    batch_approve,
    batch_cancel,
    batch_create,
    batch_preview,
    batch_reject,
    batch_submit,
)
from settlement.services.collections import collection_pay
from settlement.services.payments import instruction_reissue

BUCKET_LABELS = {"bucket_0_30": "0-30", "bucket_31_60": "31-60", "bucket_61_90": "61-90", "bucket_over_90": ">90"}


def _role(user) -> str:
    return Role.ADMIN if user.is_superuser else user.role


def _is_operator(user) -> bool:
    return user.is_superuser or user.role in OPERATOR_ROLES


def _is_approver(user) -> bool:
    return user.is_superuser or user.role in APPROVER_ROLES


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _refused(request, exc: SettlementError) -> None:
    messages.error(request, f"{exc.message} ({exc.code})")


@login_required
def batch_list(request):
    """The builder (region + cut-off → preview → create) above the list of batches."""
    if not (_is_operator(request.user) or _role(request.user) == Role.ADMIN):
        raise Http404
    region = request.GET.get("region") or (request.user.bureau.region_id if request.user.bureau_id else "")
    cutoff = _date(request.GET.get("cutoff"))
    preview = None
    if request.GET.get("preview") and cutoff:
        try:
            preview = batch_preview(region_code=region, cutoff=cutoff, user=request.user)
        except SettlementError as exc:
            _refused(request, exc)
    batches = batches_for(request.user).order_by("-created_at", "-id")[:100]
    return render(
        request,
        "settlement/batch_list.html",
        {
            "batches": batches,
            "preview": preview,
            "region": region,
            "cutoff": cutoff,
            "can_build": _is_operator(request.user),
        },
    )


@login_required
@require_POST
def batch_create_view(request):
    cutoff = _date(request.POST.get("cutoff"))
    if cutoff is None:
        messages.error(request, _("截止日期须为 YYYY-MM-DD / cut-off must be YYYY-MM-DD"))
        return redirect("settlement-batches")
    try:
        batch = batch_create(region_code=request.POST.get("region", ""), cutoff=cutoff, user=request.user)
    except SettlementError as exc:
        _refused(request, exc)
        return redirect("settlement-batches")
    messages.success(request, _("已建立批次 / batch built") + f" {batch.no}")
    return redirect("settlement-batch-detail", no=batch.no)


@login_required
def batch_detail(request, no: str):
    batch = batches_for(request.user).filter(no=no).first()
    if batch is None:
        raise Http404
    lines = (
        batch_lines_for(request.user)
        .filter(batch=batch)
        .with_paid_at()
        .select_related("invoice_line")
        .order_by("due_date", "pk")[:200]
    )
    user = request.user
    context = {
        "batch": batch,
        "summary": batch_summary(batch),
        "lines": lines,
        "events": batch.events.select_related("user"),
        "instructions": instructions_for(user).filter(batch=batch).order_by("no"),
        "collections": collections_for(user).filter(batch=batch).order_by("no"),
        "can_submit": _is_operator(user) and batch.can_submit(),
        # The maker never sees approve/reject (and the service refuses them anyway).
        "can_decide": _is_approver(user) and batch.can_approve(user),
        "can_cancel": _is_operator(user) and batch.status == BatchStatus.DRAFT,
        "is_maker": user.pk == batch.created_by_id,
    }
    return render(request, "settlement/batch_detail.html", context)


_ACTIONS = {"submit": batch_submit, "approve": batch_approve, "reject": batch_reject, "cancel": batch_cancel}


@login_required
@require_POST
def batch_action(request, no: str, action: str):
    service = _ACTIONS.get(action)
    if service is None:
        raise Http404
    try:
        batch = service(batch_no=no, user=request.user, reason=request.POST.get("reason", ""))
    except SettlementError as exc:
        _refused(request, exc)
        return redirect("settlement-batch-detail", no=no)
    messages.success(request, f"{batch.no}: {batch.get_status_display()}")
    return redirect("settlement-batch-detail", no=no)


@login_required
def batch_bank_file(request, no: str):
    if not batches_for(request.user).filter(no=no).exists():
        raise Http404
    return bank_file_response(request.user, no, "xlsx" if request.GET.get("format") == "xlsx" else "csv")


@login_required
def payment_list(request):
    qs = instructions_for(request.user).select_related("replaces").order_by("-issued_at", "-id")
    status = request.GET.get("status", "")
    if status:
        qs = qs.filter(status=status)
    return render(
        request,
        "settlement/payment_list.html",
        {"instructions": qs[:300], "status": status, "can_reissue": _is_operator(request.user)},
    )


@login_required
@require_POST
def payment_reissue(request, no: str):
    try:
        new = instruction_reissue(instruction_no=no, user=request.user, reason=request.POST.get("reason", ""))
    except SettlementError as exc:
        _refused(request, exc)
    else:
        messages.success(request, _("已重新签发 / reissued") + f" {no} → {new.no}")
    return redirect("settlement-payments")


@login_required
def collection_list(request):
    qs = collections_for(request.user).order_by("-issued_at", "-id")
    return render(
        request, "settlement/collection_list.html", {"collections": qs[:300], "can_record": _is_operator(request.user)}
    )


@login_required
@require_POST
def collection_pay_view(request, no: str):
    try:
        collection_pay(
            collection_no=no,
            user=request.user,
            bank_ref=request.POST.get("bank_ref", "")[:60],
            reason=request.POST.get("reason", ""),
        )
    except SettlementError as exc:
        _refused(request, exc)
    else:
        messages.success(request, _("已登记到账 / recorded as paid") + f" {no}")
    return redirect("settlement-collections")


@login_required
def prepayment_list(request):
    rows = prepayment_rows(user=request.user)[:500]
    return render(
        request, "settlement/prepayment_list.html", {"prepayments": rows, "can_act": _is_operator(request.user)}
    )


@login_required
@require_POST
def prepayment_action(request, action: str):
    try:
        if action == "compute":
            day = _date(request.POST.get("year_start"))
            if day is None:
                raise SettlementError("invalid", _("协议年度开始须为 YYYY-MM-DD / year start must be YYYY-MM-DD"))
            from settlement.services.batch_rules import require_role

            require_role(request.user, OPERATOR_ROLES)
            result = prepayments_compute(year_start=day, user=request.user, pay=bool(request.POST.get("pay")))
            messages.success(
                request,
                f"created={result.created} updated={result.updated} unchanged={result.unchanged} paid={result.paid}",
            )
        elif action == "pay":
            prepayment_pay(prepayment_id=int(request.POST.get("id", "0")), user=request.user)
            messages.success(request, _("已拨付 / paid out"))
        elif action == "recover":
            amount = prepayment_recover(
                hospital_code=request.POST.get("hospital_code", ""),
                user=request.user,
                reason=request.POST.get("reason", ""),
            )
            messages.success(request, _("已收回预付金 / prepayment recovered") + f" {amount}")
        else:
            raise Http404
    except SettlementError as exc:
        _refused(request, exc)
    return redirect("settlement-prepayments")


def ageing_chart(totals: dict[str, Decimal]) -> dict:
    """Bars of the four buckets, scaled server-side for an inline SVG (no scripts, no CDN)."""
    values = [max(totals[b], Decimal(0)) for b in BUCKETS]
    top = max(values) or Decimal(1)
    width, height, gap = 480, 180, 20
    bar_w = (width - gap * (len(BUCKETS) + 1)) // len(BUCKETS)
    bars = []
    for i, (b, v) in enumerate(zip(BUCKETS, values, strict=True)):
        h = int(Decimal(height - 40) * v / top)
        x = gap + i * (bar_w + gap)
        bars.append(
            {
                "x": x,
                "y": height - 20 - h,
                "w": bar_w,
                "h": h,
                "label": BUCKET_LABELS[b],
                "value": totals[b],
                "tx": x + bar_w // 2,
            }
        )
    return {"width": width, "height": height, "bars": bars, "base": height - 20}


@login_required
def receivables_dashboard(request):
    as_of = _date(request.GET.get("as_of")) or timezone.localdate()
    rows = receivables_ageing(user=request.user, as_of=as_of)
    totals = ageing_totals(rows)
    by_hospital: dict[str, dict] = {}
    for r in rows:
        h = by_hospital.setdefault(
            r.hospital_code,
            {
                "hospital_code": r.hospital_code,
                "name": r.hospital_name,
                **dict.fromkeys(BUCKETS, Decimal("0.00")),
                "total": Decimal("0.00"),
            },
        )
        for b in BUCKETS:
            h[b] += r.buckets[b]
        h["total"] += r.total
    return render(
        request,
        "settlement/receivables_dashboard.html",
        {
            "as_of": as_of,
            "rows": rows,
            "hospitals": sorted(by_hospital.values(), key=lambda x: -x["total"]),
            "totals": totals,
            "chart": ageing_chart(totals),
            "expected": expected_pay_dates(user=request.user, limit=100),
            "bucket_labels": [BUCKET_LABELS[b] for b in BUCKETS],
        },
    )
