"""验收入库 page for hospital users: deliveries awaiting receipt, oldest first; accept or
reject per line (a rejection needs a reason), or accept a whole delivery."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from parties.models import Role
from parties.scoping import DELIVERY_LINE, scope_q
from parties.web.access import role_required
from procurement.models import DeliveryLine
from procurement.services.receipts import ReceiptError, delivery_accept_all, receipt_confirm

PAGE_SIZE = 50
MSG_BAD_NUMBER = "数量须为整数 / quantities must be whole numbers"


def awaiting_receipt(user):
    """Delivery lines of the user's hospital with no receipt yet, oldest delivery first (one query)."""
    return (
        DeliveryLine.objects.filter(scope_q(user, hospital=DELIVERY_LINE["hospital"]), received_at__isnull=True)
        .select_related("order_line__product", "order_line__distributor", "order_line__hospital")
        .order_by("delivered_at", "delivery_no", "line_no")
    )


@role_required(Role.HOSPITAL)
@require_http_methods(["GET", "POST"])
def receipts_page(request):
    if request.method == "POST":
        _handle_post(request)
        return redirect(request.get_full_path())
    page = Paginator(awaiting_receipt(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "procurement/receipts.html", {"page": page})


def _handle_post(request) -> None:
    try:
        if request.POST.get("action") == "accept_all":
            outcomes = delivery_accept_all(delivery_no=request.POST.get("delivery_no", ""), user=request.user)
            done = sum(1 for o in outcomes if o.created)
            messages.success(request, _("已整单验收 %(n)s 行 / accepted %(n)s lines") % {"n": done})
            return
        try:
            line_id = int(request.POST.get("delivery_line_id", ""))
            accepted = int(request.POST.get("accepted_qty", ""))
            rejected = int(request.POST.get("rejected_qty") or 0)
        except ValueError:
            messages.error(request, MSG_BAD_NUMBER)
            return
        outcome = receipt_confirm(
            delivery_line_id=line_id,
            accepted_qty=accepted,
            rejected_qty=rejected,
            reject_reason=request.POST.get("reject_reason", ""),
            user=request.user,
        )
        messages.success(request, _("已验收 %(key)s / received %(key)s") % {"key": outcome.line.key})
    except ReceiptError as exc:
        messages.error(request, exc.message)
