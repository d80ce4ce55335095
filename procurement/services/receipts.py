"""验收入库: a hospital confirms receipt of delivery lines (DOMAIN.md "Flow of a purchase" 4).

The receipt is stored on the delivery line (accepted_qty, rejected_qty, received_at,
accepted_date in Asia/Shanghai, reject_reason, received_by); the database checks that
accepted + rejected = delivered, that a rejection has a reason and that it is not dated
before the delivery. A confirmed receipt is never edited: confirming the same content
again returns it (idempotent), different content is refused. After commit the receipts
are announced with ``interchange.signals.table_imported`` (table ``receipts``, partition
(hospital region, month of acceptance)), as an import of the receipts table would be;
settlement.receivers enqueues matching for it (acceptance clears NO_RECEIPT).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from interchange.signals import table_imported
from parties.models import Role
from parties.scoping import DELIVERY_LINE, scope_q, sees_everything
from procurement.models import DeliveryLine

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Reason codes (the API's "code") and messages, reused by tests.
CODE_NOT_FOUND = "delivery_line_not_found"
CODE_NOT_ALLOWED = "receipt_not_allowed"
CODE_NEGATIVE = "receipt_negative_qty"
CODE_QTY_MISMATCH = "receipt_qty_mismatch"
CODE_REASON_REQUIRED = "reject_reason_required"
CODE_BEFORE_DELIVERY = "received_before_delivery"
CODE_CONFLICT = "receipt_conflict"

MSG_NOT_FOUND = _("配送明细不存在 / delivery line not found")
MSG_NOT_ALLOWED = _("只有医院用户可以确认收货 / only hospital users confirm receipts")
MSG_NEGATIVE = _("数量不能为负 / quantities cannot be negative")
MSG_QTY_MISMATCH = _("验收数量 + 拒收数量须等于配送数量 / accepted + rejected must equal the delivered quantity")
MSG_REASON_REQUIRED = _("拒收须填写原因 / a rejection needs a reason")
MSG_BEFORE_DELIVERY = _("验收时间不能早于配送时间 / cannot be received before it was delivered")
MSG_CONFLICT = _("该配送明细已验收，内容不同 / this delivery line was already received with different content")


class ReceiptError(Exception):
    """A refused receipt: ``code`` (constant above), bilingual message, HTTP status, field errors."""

    def __init__(self, code: str, message, status: int = 400, fields: dict | None = None):
        super().__init__(str(message))
        self.code = code
        self.message = str(message)
        self.status = status
        self.fields = fields or {}


@dataclass(frozen=True)
class ReceiptOutcome:
    line: DeliveryLine
    created: bool  # False: the same receipt was already there (idempotent replay)


def _may_receive(user) -> bool:
    return bool(user.is_authenticated and user.is_active and (user.role == Role.HOSPITAL or sees_everything(user)))


def _visible_lines(user):
    return DeliveryLine.objects.filter(scope_q(user, hospital=DELIVERY_LINE["hospital"]))


def _announce(lines: list[DeliveryLine], user) -> None:
    """After commit, announce the receipts like a one-file import of ``receipts``, naming the
    delivery lines too: settlement matching re-matches only their invoice lines."""
    partitions = {(line.order_line.hospital.region_id, line.accepted_date.strftime("%Y-%m")) for line in lines}
    delivery_lines = {line.pk: line.order_line.hospital.region_id for line in lines}
    if partitions:
        transaction.on_commit(
            lambda: table_imported.send(
                sender=None, table="receipts", partitions=partitions, delivery_lines=delivery_lines, user=user
            )
        )


def _validate(line: DeliveryLine, accepted_qty: int, rejected_qty: int, reject_reason: str, received_at: dt.datetime):
    if accepted_qty < 0 or rejected_qty < 0:
        raise ReceiptError(CODE_NEGATIVE, MSG_NEGATIVE, fields={"accepted_qty": [str(MSG_NEGATIVE)]})
    if accepted_qty + rejected_qty != line.qty:
        raise ReceiptError(CODE_QTY_MISMATCH, MSG_QTY_MISMATCH, fields={"accepted_qty": [str(MSG_QTY_MISMATCH)]})
    if rejected_qty > 0 and not reject_reason:
        raise ReceiptError(
            CODE_REASON_REQUIRED, MSG_REASON_REQUIRED, fields={"reject_reason": [str(MSG_REASON_REQUIRED)]}
        )
    if received_at < line.delivered_at:
        raise ReceiptError(
            CODE_BEFORE_DELIVERY, MSG_BEFORE_DELIVERY, fields={"received_at": [str(MSG_BEFORE_DELIVERY)]}
        )


def _same_receipt(line, accepted_qty, rejected_qty, reject_reason, received_at) -> bool:
    return (
        line.accepted_qty == accepted_qty
        and line.rejected_qty == rejected_qty
        and line.reject_reason == (reject_reason if rejected_qty else line.reject_reason)
        and (received_at is None or line.received_at == received_at)
    )


def _apply(line: DeliveryLine, *, accepted_qty: int, rejected_qty: int, reject_reason: str, received_at, user) -> None:
    line.accepted_qty = accepted_qty
    line.rejected_qty = rejected_qty
    line.reject_reason = reject_reason if rejected_qty else ""
    line.received_at = received_at
    line.accepted_date = received_at.astimezone(SHANGHAI).date()
    line.received_by = user


_RECEIPT_FIELDS = ["accepted_qty", "rejected_qty", "reject_reason", "received_at", "accepted_date", "received_by"]


@transaction.atomic
def receipt_confirm(
    *,
    delivery_line_id: int,
    accepted_qty: int,
    rejected_qty: int,
    reject_reason: str = "",
    received_at: dt.datetime | None = None,
    user,
) -> ReceiptOutcome:
    """Confirm receipt of one delivery line of the user's hospital (another hospital's: not found)."""
    if not _may_receive(user):
        raise ReceiptError(CODE_NOT_ALLOWED, MSG_NOT_ALLOWED, status=403)
    line = (
        _visible_lines(user)
        .select_for_update(of=("self",))
        .select_related("order_line__hospital")
        .filter(pk=delivery_line_id)
        .first()
    )
    if line is None:
        raise ReceiptError(CODE_NOT_FOUND, MSG_NOT_FOUND, status=404)
    reject_reason = (reject_reason or "").strip()
    accepted_qty, rejected_qty = int(accepted_qty), int(rejected_qty)
    if line.received_at is not None:
        if _same_receipt(line, accepted_qty, rejected_qty, reject_reason, received_at):
            return ReceiptOutcome(line=line, created=False)
        raise ReceiptError(CODE_CONFLICT, MSG_CONFLICT, status=409)
    when = received_at or timezone.now()
    if timezone.is_naive(when):
        when = when.replace(tzinfo=SHANGHAI)  # INTERCHANGE.md: a timestamp without a zone is Shanghai time
    _validate(line, accepted_qty, rejected_qty, reject_reason, when)
    _apply(
        line,
        accepted_qty=accepted_qty,
        rejected_qty=rejected_qty,
        reject_reason=reject_reason,
        received_at=when,
        user=user,
    )
    line.save(update_fields=_RECEIPT_FIELDS)
    _announce([line], user)
    return ReceiptOutcome(line=line, created=True)


@transaction.atomic
def delivery_accept_all(*, delivery_no: str, user, received_at: dt.datetime | None = None) -> list[ReceiptOutcome]:
    """Accept every line of a delivery in full. Lines already received keep their receipt
    (reported with ``created=False``); replaying it changes nothing."""
    if not _may_receive(user):
        raise ReceiptError(CODE_NOT_ALLOWED, MSG_NOT_ALLOWED, status=403)
    lines = list(
        _visible_lines(user)
        .select_for_update(of=("self",))
        .select_related("order_line__hospital")
        .filter(delivery_no=delivery_no)
        .order_by("pk")
    )
    if not lines:
        raise ReceiptError(CODE_NOT_FOUND, MSG_NOT_FOUND, status=404)
    when = received_at or timezone.now()
    if timezone.is_naive(when):
        when = when.replace(tzinfo=SHANGHAI)
    fresh = [line for line in lines if line.received_at is None]
    for line in fresh:
        _validate(line, line.qty, 0, "", when)
        _apply(line, accepted_qty=line.qty, rejected_qty=0, reject_reason="", received_at=when, user=user)
    DeliveryLine.objects.bulk_update(fresh, _RECEIPT_FIELDS)
    _announce(fresh, user)
    fresh_ids = {line.pk for line in fresh}
    return [ReceiptOutcome(line=line, created=line.pk in fresh_ids) for line in lines]
