"""托收单: issued on batch approval for what neither the fund allocation nor the
prepayment covered; paid by the hospital (issued → paid), or cleared against its
prepayment at year end (procurement.services.prepayments.prepayment_clear)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone

from interchange.money import from_fen, to_fen
from parties.models import Hospital
from parties.policy import policy_value
from settlement.models import CollectionEvent, CollectionOrder, CollectionStatus, SettlementBatch
from settlement.models.batches import COLLECTION_TRANSITIONS
from settlement.models.ledger import Account, EntryKind
from settlement.services.batch_rules import (
    BAD_TRANSITION,
    MSG_BAD_TRANSITION,
    MSG_NOT_FOUND,
    NOT_FOUND,
    OPERATOR_ROLES,
    SettlementError,
    require_region,
    require_role,
)
from settlement.services.ledger import Leg, journal_post
from settlement.services.numbering import number_block

COLLECTION_KIND = "COLLECTION"
COLLECTION_PREFIX = "TS"  # 托收


def collections_issue(*, batch: SettlementBatch, amounts_fen: Mapping[str, int], user) -> list[CollectionOrder]:
    """One collection order per hospital with a positive amount (bulk; numbered)."""
    todo = sorted((h, int(f)) for h, f in amounts_fen.items() if f > 0)
    if not todo:
        return []
    today = timezone.localdate()
    numbers = number_block(kind=COLLECTION_KIND, year=today.year, count=len(todo), prefix=COLLECTION_PREFIX)
    regions = dict(Hospital.objects.filter(code__in=[h for h, _f in todo]).values_list("code", "region_id"))
    orders = CollectionOrder.objects.bulk_create(
        [
            CollectionOrder(
                no=no,
                batch=batch,
                hospital_id=h,
                amount=from_fen(f),
                due_date=today + dt.timedelta(days=int(policy_value("COLLECTION_TERM_DAYS", regions.get(h)))),
            )
            for no, (h, f) in zip(numbers, todo, strict=True)
        ],
        batch_size=2000,
    )
    CollectionEvent.objects.bulk_create(
        [
            CollectionEvent(collection=o, user=user, action="issue", to_status=CollectionStatus.ISSUED, reason=batch.no)
            for o in orders
        ],
        batch_size=2000,
    )
    return orders


def _locked(collection_no: str, user) -> CollectionOrder:
    order = CollectionOrder.objects.select_for_update().select_related("hospital").filter(no=collection_no).first()
    if order is None:
        raise SettlementError(NOT_FOUND, MSG_NOT_FOUND, status=404)
    require_region(user, order.hospital.region_id)
    return order


@transaction.atomic
def collection_pay(
    *, collection_no: str, user, paid_at: dt.datetime | None = None, bank_ref: str = "", reason: str = ""
) -> CollectionOrder:
    """The hospital paid what it owes on the order (amount − cleared): issued → paid,
    Dr 1001 / Cr 1122. Idempotent: a paid order is returned unchanged."""
    require_role(user, OPERATOR_ROLES)
    order = _locked(collection_no, user)
    if order.status == CollectionStatus.PAID:
        return order
    if CollectionStatus.PAID not in COLLECTION_TRANSITIONS[order.status]:
        raise SettlementError(BAD_TRANSITION, MSG_BAD_TRANSITION, status=409)
    due = to_fen(order.amount) - to_fen(order.cleared_amount)
    order.status = CollectionStatus.PAID
    order.paid_at = paid_at or timezone.now()
    order.paid_by = user
    order.bank_ref = bank_ref
    order.save(update_fields=["status", "paid_at", "paid_by", "bank_ref"])
    CollectionEvent.objects.create(
        collection=order,
        user=user,
        action="pay",
        from_status=CollectionStatus.ISSUED,
        to_status=CollectionStatus.PAID,
        reason=reason,
    )
    if due:
        journal_post(
            key=f"collection_paid:{order.no}",
            kind=EntryKind.COLLECTION_PAID,
            legs=[Leg(Account.BANK, due), Leg(Account.COLLECTION, -due, order.hospital_id)],
            user=user,
            reason=reason,
            collection=order,
        )
    return order


def collection_clear(*, collection: CollectionOrder, fen: int, user, reason: str) -> CollectionOrder:
    """Offset ``fen`` of a (locked) order against the hospital's prepayment; paid when
    nothing is left. The ledger entry is the clearing's (prepayment_clear)."""
    collection.cleared_amount = from_fen(to_fen(collection.cleared_amount) + fen)
    fields = ["cleared_amount"]
    before = collection.status
    if to_fen(collection.cleared_amount) >= to_fen(collection.amount):
        collection.status = CollectionStatus.PAID
        collection.paid_at = timezone.now()
        collection.paid_by = user
        fields += ["status", "paid_at", "paid_by"]
    collection.save(update_fields=fields)
    CollectionEvent.objects.create(
        collection=collection, user=user, action="clear", from_status=before, to_status=collection.status, reason=reason
    )
    return collection
