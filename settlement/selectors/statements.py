"""Statements as the parties see them: scoped, with totals by aggregate (one query)."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet, Sum

from parties.scoping import scope_q
from settlement.models import InvoiceLine, MatchStatus, Statement

# Who is a party to a statement: its hospital, and its distributor (the invoices' seller).
STATEMENT_SCOPE = {"hospital": "hospital", "enterprise": "distributor"}


def statements_visible(user) -> QuerySet[Statement]:
    return Statement.objects.filter(scope_q(user, **STATEMENT_SCOPE))


def statements_with_totals(qs: QuerySet[Statement]) -> QuerySet[Statement]:
    """``line_count``/``amount``: the settleable (matched) lines; ``disputed_count``."""
    matched = Q(lines__match_status=MatchStatus.MATCHED)
    return qs.annotate(
        line_count=Count("lines", filter=matched),
        amount=Sum("lines__net_amount", filter=matched),
        disputed_count=Count("lines", filter=~Q(lines__dispute_reason="")),
    )


def statement_lines(statement: Statement) -> QuerySet[InvoiceLine]:
    """The lines of a statement with what a page shows of them (one query)."""
    return statement.lines.select_related("delivery_line__order_line__product").order_by(
        "invoice_code", "invoice_no", "line_no"
    )
