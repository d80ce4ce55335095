"""Reads of batches, their lines, payment instructions, collection orders and
prepayments, scoped to the caller (parties.scoping): another party's or region's
document is simply not there (the API answers 404).

- batches: bureau staff of a region containing the batch region; admins/superusers;
- batch lines: as invoice lines (hospital / distributor party), bureau by hospital region;
- instructions: the payee enterprise; bureau staff by the batch region;
- collection orders and prepayments: the hospital; bureau staff by hospital region.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

from parties.models import BUREAU_ROLES, Role
from parties.scoping import BATCH_LINE, NOTHING, PREPAYMENT, scope_q, sees_everything, user_region_prefix
from procurement.models import Prepayment
from settlement.models import BatchLine, CollectionOrder, PaymentInstruction, SettlementBatch

COLLECTION = {"hospital": "hospital"}


def _bureau_region_q(user, path: str) -> Q:
    if sees_everything(user):
        return Q()
    prefix = user_region_prefix(user) if user.role in BUREAU_ROLES else None
    return Q(**{f"{path}__code__startswith": prefix}) if prefix else NOTHING


def batches_for(user) -> QuerySet:
    if not user.is_authenticated or not user.is_active:
        return SettlementBatch.objects.none()
    return SettlementBatch.objects.filter(_bureau_region_q(user, "region")).select_related(
        "region", "created_by", "approved_by", "rejected_by", "submitted_by"
    )


def batch_lines_for(user) -> QuerySet:
    return scoped_batch_lines(BatchLine.objects.all(), user)


def scoped_batch_lines(qs: QuerySet, user) -> QuerySet:
    """``qs`` narrowed to the batch lines ``user`` may see. A party is matched through its
    invoice lines (indexed by party; batch lines are not) and on the line's own copy of the
    party as well, which changes nothing in what is seen, but lets a plan that scans a
    batch's lines drop the other parties' before joining their invoice lines."""
    qs = qs.filter(scope_q(user, **BATCH_LINE))
    if user.is_authenticated and user.role == Role.ENTERPRISE and user.enterprise_id:
        qs = qs.filter(distributor_id=user.enterprise_id)
    elif user.is_authenticated and user.role == Role.HOSPITAL and user.hospital_id:
        qs = qs.filter(hospital_id=user.hospital_id)
    return qs


def instructions_for(user) -> QuerySet:
    if not user.is_authenticated or not user.is_active:
        return PaymentInstruction.objects.none()
    q = _bureau_region_q(user, "batch__region")
    if user.role == "enterprise" and user.enterprise_id:
        q = Q(distributor_id=user.enterprise_id)
    return PaymentInstruction.objects.filter(q).select_related("batch", "distributor")


def collections_for(user) -> QuerySet:
    return CollectionOrder.objects.filter(scope_q(user, **COLLECTION)).select_related("batch", "hospital")


def prepayments_for(user) -> QuerySet:
    return Prepayment.objects.filter(scope_q(user, **PREPAYMENT)).select_related("hospital")


def batch_summary(batch: SettlementBatch) -> dict:
    """Totals per distributor and per hospital (constant queries)."""
    lines = BatchLine.objects.filter(batch=batch)
    sums = {
        "n": Count("pk"),
        "amount": Sum("amount"),
        "deducted": Sum("deducted_amount"),
        "prepayment": Sum("prepayment_amount"),
        "collection": Sum("collection_amount"),
    }
    by_distributor = list(
        lines.values("distributor_id", "distributor__name").annotate(**sums).order_by("distributor_id")
    )
    by_hospital = list(lines.values("hospital_id", "hospital__name").annotate(**sums).order_by("hospital_id"))
    for row in by_distributor + by_hospital:
        for k in ("amount", "deducted", "prepayment", "collection"):
            row[k] = None if row[k] is None else Decimal(row[k]).quantize(Decimal("0.01"))
    return {"by_distributor": by_distributor, "by_hospital": by_hospital}


def prepayment_rows(*, user, as_of: dt.date | None = None, region: str | None = None) -> QuerySet:
    qs = prepayments_for(user)
    if as_of:
        qs = qs.filter(year_start__lte=as_of)
    if region:
        from parties.identifiers import region_prefix

        qs = qs.filter(hospital__region__code__startswith=region_prefix(region))
    return qs.order_by("hospital_id", "year_start")
