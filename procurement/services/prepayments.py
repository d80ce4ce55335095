"""医保基金预付 (DOMAIN.md "Flow of a purchase" 3 and 10): compute, pay out, use in
batches, recover (收回预付金) and clear at year end. Every money movement is a ledger
entry naming the prepayment (settlement.models.ledger), which is also its history.

A hospital's prepayment balance on day D = Σ over its paid-out prepayments with
year_start ≤ D and not yet cleared of (amount − used − recovered − cleared).
Usage is attributed oldest year first.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from interchange.money import from_fen, price_to_units, to_fen
from parties.identifiers import region_prefix
from parties.policy import policy_value
from procurement.models import Agreement, Award, Prepayment
from settlement.services.batch_rules import (
    BAD_TRANSITION,
    NOT_FOUND,
    OPERATOR_ROLES,
    SettlementError,
    require_reason,
    require_region,
    require_role,
)

MSG_PREPAYMENT_PAID_DIFFERS = _("预付金已拨付，金额不能再改 / the prepayment was paid out: its amount cannot change")
MSG_NOTHING_TO_CLEAR = _("该预付金未拨付或已清算 / the prepayment is not paid out or already cleared")


@dataclass
class ComputeResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: list[str] = field(default_factory=list)  # hospital codes whose paid prepayment differs
    paid: int = 0


def _award_units(agreements: pd.DataFrame) -> pd.Series:
    """Award price (1/10000 yuan) per agreement row: the award of the agreement's round and
    product whose supply region covers the hospital, most specific region first, then
    the lowest price. Rows without a covering award get NaN."""
    awards = pd.DataFrame.from_records(
        list(
            Award.objects.filter(
                round_id__in=agreements["round_id"].unique().tolist(),
                product_id__in=agreements["product_id"].unique().tolist(),
            ).values_list("round_id", "product_id", "supply_region_id", "award_price")
        ),
        columns=["round_id", "product_id", "supply_region_id", "award_price"],
    )
    if awards.empty:
        return pd.Series(np.nan, index=agreements.index)
    awards["prefix"] = [region_prefix(c) for c in awards["supply_region_id"]]
    awards["price_units"] = [price_to_units(p) for p in awards["award_price"]]
    merged = agreements.reset_index().merge(awards, on=["round_id", "product_id"], how="inner")
    plen = merged["prefix"].str.len()
    covers = np.zeros(len(merged), dtype=bool)
    for n in (2, 4, 6):
        sel = (plen == n).to_numpy()
        covers |= sel & (merged["region_code"].str[:n] == merged["prefix"]).to_numpy()
    merged = merged[covers].assign(plen=plen[covers])
    best = merged.sort_values(["index", "plen", "price_units"], ascending=[True, False, True]).drop_duplicates("index")
    return best.set_index("index")["price_units"].reindex(agreements.index)


def prepayment_amounts(*, year_start: dt.date) -> dict[str, Decimal]:
    """hospital → PREPAYMENT_RATE × Σ agreed_qty × award price over its agreements
    starting on ``year_start``, rounded half-up once per hospital (yuan, 2 places)."""
    agreements = pd.DataFrame.from_records(
        list(
            Agreement.objects.filter(year_start=year_start).values_list(
                "id", "round_id", "product_id", "hospital_id", "hospital__region_id", "agreed_qty"
            )
        ),
        columns=["id", "round_id", "product_id", "hospital_id", "region_code", "agreed_qty"],
    )
    if agreements.empty:
        return {}
    agreements["price_units"] = _award_units(agreements)
    agreements = agreements.dropna(subset=["price_units"])
    agreements["value_units"] = agreements["agreed_qty"].astype("int64") * agreements["price_units"].astype("int64")
    totals = agreements.groupby(["hospital_id", "region_code"])["value_units"].sum()
    out: dict[str, Decimal] = {}
    for (hospital_id, region_code), units in totals.items():
        rate = Decimal(str(policy_value("PREPAYMENT_RATE", region_code)))
        # units are 1/10000 yuan: × rate, then once to the fen.
        out[hospital_id] = (Decimal(int(units)) * rate / 10000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return out


@transaction.atomic
def prepayments_compute(*, year_start: dt.date, user=None, pay: bool = False) -> ComputeResult:
    """Create (or bring up to date, while unpaid) the prepayments of ``year_start``.
    Idempotent: a second run with the same agreements changes nothing. With ``pay`` the
    unpaid ones are then recorded as paid out by ``user``."""
    amounts = prepayment_amounts(year_start=year_start)
    result = ComputeResult()
    existing = {
        p.hospital_id: p
        for p in Prepayment.objects.select_for_update().filter(year_start=year_start, hospital_id__in=list(amounts))
    }
    new, changed = [], []
    for hospital_id, amount in sorted(amounts.items()):
        row = existing.get(hospital_id)
        if row is None:
            new.append(Prepayment(hospital_id=hospital_id, year_start=year_start, amount=amount))
        elif row.amount == amount:
            result.unchanged += 1
        elif row.paid_at is None:
            row.amount = amount
            changed.append(row)
        else:
            result.conflicts.append(hospital_id)
    Prepayment.objects.bulk_create(new, batch_size=2000)
    Prepayment.objects.bulk_update(changed, ["amount"], batch_size=2000)
    result.created, result.updated = len(new), len(changed)
    if pay:
        result.paid = prepayments_pay(year_start=year_start, user=user)
    return result


@transaction.atomic
def prepayments_pay(*, year_start: dt.date, user, hospital_codes: list[str] | None = None) -> int:
    """Record the unpaid prepayments of ``year_start`` (in ``user``'s region) as paid out:
    Dr 1123 / Cr 1001 each. Idempotent: paid ones are left alone."""
    from settlement.models.ledger import Account, EntryKind
    from settlement.services.batch_rules import user_covers_region
    from settlement.services.ledger import EntrySpec, Leg, journal_post_bulk

    require_role(user, OPERATOR_ROLES)
    rows = Prepayment.objects.select_for_update().filter(year_start=year_start, paid_at__isnull=True, amount__gt=0)
    if hospital_codes is not None:
        rows = rows.filter(hospital_id__in=hospital_codes)
    rows = [r for r in rows.select_related("hospital").order_by("pk") if user_covers_region(user, r.hospital.region_id)]
    now = timezone.now()
    for r in rows:
        r.paid_at, r.paid_by = now, user
    Prepayment.objects.bulk_update(rows, ["paid_at", "paid_by"], batch_size=2000)
    journal_post_bulk(
        [
            EntrySpec(
                key=f"prepayment_paid:{r.pk}",
                kind=EntryKind.PREPAYMENT_PAID,
                legs=(Leg(Account.PREPAYMENT, to_fen(r.amount), r.hospital_id), Leg(Account.BANK, -to_fen(r.amount))),
                reason=f"{r.hospital_id} {r.year_start}",
                refs={"prepayment_id": r.pk},
            )
            for r in rows
        ],
        user=user,
    )
    return len(rows)


@transaction.atomic
def prepayment_pay(*, prepayment_id: int, user) -> Prepayment:
    """Record one prepayment as paid out (idempotent)."""
    row = Prepayment.objects.select_related("hospital").filter(pk=prepayment_id).first()
    if row is None:
        raise SettlementError(NOT_FOUND, _("未找到 / not found"), status=404)
    require_role(user, OPERATOR_ROLES)
    require_region(user, row.hospital.region_id)
    prepayments_pay(year_start=row.year_start, user=user, hospital_codes=[row.hospital_id])
    return Prepayment.objects.get(pk=prepayment_id)


def _usable(hospitals_qs, as_of: dt.date, lock: bool):
    rows = Prepayment.objects.filter(
        hospital_id__in=hospitals_qs, paid_at__isnull=False, cleared_at__isnull=True, year_start__lte=as_of
    ).order_by("pk")
    if lock:
        rows = rows.select_for_update()  # locks taken in pk order, as everywhere else
    # Use order (hospital, oldest year first) is applied here, not in SQL: a second
    # order_by would replace the pk order the locks are taken in.
    return sorted(rows, key=lambda r: (r.hospital_id, r.year_start, r.pk))


def _balance_fen(row: Prepayment) -> int:
    return to_fen(row.amount) - to_fen(row.used_amount) - to_fen(row.recovered_amount) - to_fen(row.cleared_amount)


def prepayments_available_fen(*, hospitals_qs, as_of: dt.date, lock: bool) -> dict[str, int]:
    """hospital → prepayment balance on ``as_of`` (fen). ``lock`` locks the rows (pk order)."""
    out: dict[str, int] = defaultdict(int)
    for row in _usable(hospitals_qs, as_of, lock):
        out[row.hospital_id] += max(_balance_fen(row), 0)
    return dict(out)


def prepayments_use(*, usage_fen: Mapping[str, int], hospitals_qs, as_of: dt.date) -> dict[int, int]:
    """Attribute each hospital's usage to its prepayments, oldest year first, and store
    ``used_amount``. The caller holds the row locks (``prepayments_available_fen(lock=True)``
    in the same transaction). Returns prepayment id → fen used."""
    remaining = {h: int(f) for h, f in usage_fen.items() if f > 0}
    if not remaining:
        return {}
    used: dict[int, int] = {}
    changed = []
    for row in _usable(hospitals_qs, as_of, lock=True):
        need = remaining.get(row.hospital_id, 0)
        if need <= 0:
            continue
        take = min(need, max(_balance_fen(row), 0))
        if take:
            row.used_amount = from_fen(to_fen(row.used_amount) + take)
            remaining[row.hospital_id] = need - take
            used[row.pk] = take
            changed.append(row)
    if any(v > 0 for v in remaining.values()):
        raise RuntimeError(f"prepayment usage exceeds the balance: {remaining}")
    Prepayment.objects.bulk_update(changed, ["used_amount"], batch_size=2000)
    return used


@transaction.atomic
def prepayment_recover(*, hospital_code: str, user, reason: str, as_of: dt.date | None = None) -> Decimal:
    """收回预付金: the hospital's whole remaining prepayment balance goes back to the fund
    (Dr 1001 / Cr 1123). Returns the amount recovered; 0.00 when nothing is left (so a
    repeated call changes nothing). Called by the alerts feature for 通报 hospitals."""
    from parties.models import Hospital
    from settlement.models.ledger import Account, EntryKind
    from settlement.services.ledger import EntrySpec, Leg, journal_post_bulk

    require_role(user, OPERATOR_ROLES)
    reason = require_reason(reason)
    hospital = Hospital.objects.filter(pk=hospital_code).first()
    if hospital is None:
        raise SettlementError(NOT_FOUND, _("未找到 / not found"), status=404)
    require_region(user, hospital.region_id)
    day = as_of or timezone.localdate()
    rows = _usable([hospital_code], dt.date.max if as_of is None else day, lock=True)
    specs, changed, total = [], [], 0
    for row in rows:
        fen = max(_balance_fen(row), 0)
        if not fen:
            continue
        row.recovered_amount = from_fen(to_fen(row.recovered_amount) + fen)
        changed.append(row)
        total += fen
        specs.append(
            EntrySpec(
                key=f"prepayment_recovered:{row.pk}:{to_fen(row.recovered_amount)}",
                kind=EntryKind.PREPAYMENT_RECOVERED,
                legs=(Leg(Account.BANK, fen), Leg(Account.PREPAYMENT, -fen, hospital_code)),
                reason=reason,
                refs={"prepayment_id": row.pk},
            )
        )
    Prepayment.objects.bulk_update(changed, ["recovered_amount"])
    journal_post_bulk(specs, user=user)
    return from_fen(total)


@transaction.atomic
def prepayment_clear(*, hospital_code: str, year_start: dt.date, user, reason: str = "") -> Prepayment:
    """Year-end clearing (DOMAIN.md 10): the prepayment's remaining balance pays the
    hospital's open collection orders (oldest first, partly where it runs out); what is
    still left returns to the fund. The prepayment is closed (``cleared_at``).
    Ledger: Dr 5001 / Cr 1122 for the offset, Dr 1001 / Cr 1123 for the whole balance."""
    from settlement.models import CollectionOrder, CollectionStatus
    from settlement.models.ledger import Account, EntryKind
    from settlement.services.collections import collection_clear
    from settlement.services.ledger import Leg, journal_post

    require_role(user, OPERATOR_ROLES)
    row = (
        Prepayment.objects.select_for_update()
        .select_related("hospital")
        .filter(hospital_id=hospital_code, year_start=year_start)
        .first()
    )
    if row is None:
        raise SettlementError(NOT_FOUND, _("未找到 / not found"), status=404)
    require_region(user, row.hospital.region_id)
    if row.cleared_at is not None:
        return row  # idempotent
    if row.paid_at is None:
        raise SettlementError(BAD_TRANSITION, MSG_NOTHING_TO_CLEAR)
    balance = max(_balance_fen(row), 0)
    offset = 0
    open_orders = (
        CollectionOrder.objects.select_for_update()
        .filter(Q(hospital_id=hospital_code), status=CollectionStatus.ISSUED)
        .order_by("issued_at", "pk")
    )
    for order in open_orders:
        if offset >= balance:
            break
        take = min(balance - offset, to_fen(order.amount) - to_fen(order.cleared_amount))
        if take > 0:
            collection_clear(collection=order, fen=take, user=user, reason=reason or "年终清算 / year-end clearing")
            offset += take
    row.cleared_amount = from_fen(to_fen(row.cleared_amount) + balance)
    row.cleared_at = timezone.now()
    row.save(update_fields=["cleared_amount", "cleared_at"])
    if balance:
        journal_post(
            key=f"prepayment_cleared:{row.pk}",
            kind=EntryKind.PREPAYMENT_CLEARED,
            legs=[
                Leg(Account.EXPENSE, offset, hospital_code),
                Leg(Account.COLLECTION, -offset, hospital_code),
                Leg(Account.BANK, balance),
                Leg(Account.PREPAYMENT, -balance, hospital_code),
            ],
            user=user,
            reason=reason or "年终清算 / year-end clearing",
            prepayment=row,
        )
    return row
