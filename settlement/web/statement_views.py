"""Pages of statements (对账单) and invoice-line stages.

- /statements/: the statements the user is a party to (hospitals: open ones first, to confirm)
- /statements/<no>/: detail with lines; hospital users confirm it or dispute lines
- /lines/: where each invoice line is and who holds it (enterprises' "where is my money")
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, Value, When
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from parties.models import Hospital, Role
from parties.scoping import INVOICE_LINE, scoped
from parties.web.access import role_required
from settlement.models import InvoiceLine, StatementStatus
from settlement.selectors.lines import Holder, LineFilters, LineStage, invoice_lines_with_stage
from settlement.selectors.statements import statement_lines, statements_visible, statements_with_totals
from settlement.services.statements import (
    MSG_NOT_FOUND,
    StatementError,
    statement_confirm,
    statement_dispute,
)

PAGE_SIZE = 50


@login_required
def statement_list(request):
    qs = statements_visible(request.user).select_related("hospital", "distributor")
    status = request.GET.get("status") or ""
    period = request.GET.get("period") or ""
    if status in StatementStatus.values:
        qs = qs.filter(status=status)
    if period:
        qs = qs.filter(period=period)
    open_first = Case(When(status=StatementStatus.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField())
    qs = statements_with_totals(qs).order_by(open_first, "deadline", "no")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "settlement/statements.html",
        {"page": page, "status": status, "period": period, "statuses": StatementStatus.choices},
    )


def _visible_statement(request, no: str):
    statement = (
        statements_with_totals(statements_visible(request.user).select_related("hospital", "distributor"))
        .filter(no=no)
        .first()
    )
    if statement is None:
        raise Http404(str(MSG_NOT_FOUND))
    return statement


@login_required
def statement_detail(request, no: str):
    statement = _visible_statement(request, no)
    lines = list(statement_lines(statement))
    events = statement.events.select_related("user", "invoice_line").order_by("at", "id")
    may_act = statement.status == StatementStatus.OPEN and (
        request.user.is_superuser
        or (request.user.role == Role.HOSPITAL and request.user.hospital_id == statement.hospital_id)
    )
    return render(
        request,
        "settlement/statements_detail.html",
        {"statement": statement, "lines": lines, "events": events, "may_act": may_act},
    )


@role_required(Role.HOSPITAL)
@require_POST
def statement_confirm_view(request, no: str):
    try:
        seen = request.POST.get("expected_lines", "")
        statement_confirm(statement_no=no, user=request.user, expected_lines=int(seen) if seen.isdigit() else None)
        messages.success(request, _("对账单已确认 / statement confirmed"))
    except StatementError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from exc
        messages.error(request, exc.message)
    return redirect(reverse("settlement-statement-detail", args=[no]))


@role_required(Role.HOSPITAL)
@require_POST
def statement_dispute_view(request, no: str):
    ids = [int(i) for i in request.POST.getlist("invoice_line_id") if i.isdigit()]
    try:
        statement_dispute(
            statement_no=no, reason=request.POST.get("reason", ""), invoice_line_ids=ids, user=request.user
        )
        messages.success(request, _("已提出异议 / dispute recorded"))
    except StatementError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from exc
        messages.error(request, exc.message)
    return redirect(reverse("settlement-statement-detail", args=[no]))


@login_required
def line_list(request):
    params = request.GET
    filters = LineFilters(
        hospital=params.get("hospital") or None,
        stage=params.get("stage") or None,
        period=params.get("period") or None,
    )
    error = ""
    try:
        qs = invoice_lines_with_stage(request.user, filters)
    except ValueError as exc:
        error = str(exc)
        qs = invoice_lines_with_stage(request.user, LineFilters(hospital=filters.hospital))
    page = Paginator(qs, PAGE_SIZE).get_page(params.get("page"))
    with_lines = scoped(InvoiceLine.objects.all(), request.user, **INVOICE_LINE).values("hospital_id")
    hospitals = Hospital.objects.filter(code__in=with_lines)
    query = params.copy()
    query.pop("page", None)
    return render(
        request,
        "settlement/lines.html",
        {
            "page": page,
            "filters": filters,
            "error": error,
            "stages": LineStage.choices,
            "stage_labels": LineStage.LABELS,
            "holder_labels": Holder.LABELS,
            "hospitals": hospitals.order_by("code").values_list("code", "name"),
            "query": query.urlencode(),
        },
    )
