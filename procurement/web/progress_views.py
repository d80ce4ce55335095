"""Agreement progress pages: a hospital's agreements with a chart of progress against the
expected pace (inline SVG, nothing from a CDN), and the bureau's view across hospitals
sorted by lag. Chart geometry is computed here; the templates only draw it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone

from parties.models import Hospital, Role
from parties.scoping import HOSPITAL, scoped
from parties.web.access import role_required
from procurement.models import Agreement
from procurement.selectors.progress import (
    ProgressStatus,
    agreement_progress,
    daily_purchases,
    progress_by_hospital,
    scoped_agreements,
)

MSG_BAD_DATE = "日期格式须为 YYYY-MM-DD / date must be YYYY-MM-DD"

PAGE_ROLES = (Role.HOSPITAL, Role.BUREAU_OPERATOR, Role.BUREAU_APPROVER, Role.PRICE_ANALYST, Role.ADMIN)
OVERVIEW_ROLES = (Role.BUREAU_OPERATOR, Role.BUREAU_APPROVER, Role.PRICE_ANALYST, Role.ADMIN)

# Chart geometry (SVG user units).
BAR_WIDTH = 300  # 100% completion
BAR_CAP = Decimal("1.2")  # bars stop at 120%
CURVE_W, CURVE_H = 640, 240


def _as_of(request) -> dt.date:
    value = request.GET.get("as_of")
    if not value:
        return timezone.localdate()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        messages.error(request, MSG_BAD_DATE)
        return timezone.localdate()


def _x(rate: Decimal) -> Decimal:
    return (min(rate, BAR_CAP) * BAR_WIDTH).quantize(Decimal("0.1"))


def progress_bars(rows) -> list[dict]:
    """Per agreement: completion bar width and the expected-pace marker position."""
    return [
        {
            "row": r,
            "bar": _x(r.completion_rate),
            "expected": _x(r.expected_rate),
            "lag_floor": _x(max(r.expected_rate - Decimal("0.10"), Decimal(0))),
        }
        for r in rows
    ]


def progress_curve(agreement: Agreement, *, as_of: dt.date) -> dict:
    """Cumulative accepted quantity through the agreement year against the straight pace
    line from 0 to agreed_qty; as SVG polyline points."""
    days = (agreement.year_end - agreement.year_start).days + 1
    daily = daily_purchases(agreement, as_of=as_of)
    total = sum(q for _d, q in daily)
    top = max(agreement.agreed_qty, total) or 1

    def point(day_index: int, qty: int) -> str:
        x = Decimal(day_index * CURVE_W) / days
        y = CURVE_H - Decimal(qty * CURVE_H) / top
        return f"{x.quantize(Decimal('0.1'))},{y.quantize(Decimal('0.1'))}"

    points = [point(0, 0)]
    running = 0
    for day, qty in daily:
        idx = (day - agreement.year_start).days
        points.append(point(idx, running))
        running += qty
        points.append(point(idx + 1, running))
    today = min(max((as_of - agreement.year_start).days + 1, 0), days)
    points.append(point(today, running))
    return {
        "width": CURVE_W,
        "height": CURVE_H,
        "actual": " ".join(points),
        "pace": f"{point(0, 0)} {point(days, agreement.agreed_qty)}",
        "agreed_y": (CURVE_H - Decimal(agreement.agreed_qty * CURVE_H) / top).quantize(Decimal("0.1")),
        "today_x": (Decimal(today * CURVE_W) / days).quantize(Decimal("0.1")),
        "total": total,
        "agreed": agreement.agreed_qty,
    }


@role_required(*PAGE_ROLES)
def progress_hospital(request):
    as_of = _as_of(request)
    user = request.user
    if user.role == Role.HOSPITAL and not user.is_superuser:
        hospital_code = user.hospital_id
    else:
        hospital_code = request.GET.get("hospital")
        if not hospital_code:
            return redirect("agreement-progress-overview")
    hospital = scoped(Hospital.objects.filter(code=hospital_code), user, **HOSPITAL).first()
    if hospital is None:
        raise Http404
    status = request.GET.get("status") or None
    if status not in (None, *ProgressStatus.LABELS):
        status = None
    rows = agreement_progress(user, as_of=as_of, hospital=hospital.code, status=status, current_only=True)
    curve = None
    selected = request.GET.get("agreement")
    if selected and selected.isdigit():
        agreement = (
            scoped_agreements(user, hospital=hospital.code).filter(pk=int(selected)).select_related("product").first()
        )
        if agreement is not None:
            curve = progress_curve(agreement, as_of=as_of)
            curve["agreement"] = agreement
    return render(
        request,
        "procurement/progress.html",
        {
            "hospital": hospital,
            "as_of": as_of,
            "bars": progress_bars(rows),
            "bar_width": BAR_WIDTH,
            "chart_width": int(BAR_WIDTH * BAR_CAP),
            "curve": curve,
            "status": status or "",
            "statuses": ProgressStatus.choices,
            "counts": {s: sum(r.status == s for r in rows) for s in ProgressStatus.LABELS},
        },
    )


@role_required(*OVERVIEW_ROLES)
def progress_overview(request):
    as_of = _as_of(request)
    rows = agreement_progress(request.user, as_of=as_of, current_only=True, region=request.GET.get("region") or None)
    hospitals = progress_by_hospital(rows)
    return render(
        request,
        "procurement/progress_overview.html",
        {
            "as_of": as_of,
            "hospitals": hospitals,
            "behind": [r for r in sorted(rows, key=lambda r: -r.lag) if r.status == ProgressStatus.BEHIND][:50],
            "agreements": len(rows),
        },
    )
