"""约定采购量完成进度 / agreement progress (DOMAIN.md "Agreement progress").

purchased_qty = accepted quantity of the hospital's receipts of the product whose
acceptance date lies in [year_start, min(year_end, D)], whatever the order's date;
completion_rate = purchased / agreed; expected_rate = (D − year_start + 1) /
(year_end − year_start + 1) clamped to [0, 1]; status ``completed`` (completion ≥ 1),
``on_track`` (completion ≥ expected − AGREEMENT_LAG) or ``behind``.

Set-based: one query for the agreements and one GROUP BY per distinct agreement window
(year_start, year_end) — a handful, since a round's agreements share their years — then
a pandas merge. The status is decided in exact integer arithmetic
(purchased·N·q ≥ agreed·(elapsed·q − p·N) for AGREEMENT_LAG = p/q), so a lag of exactly
10 points is on track, never a float rounding away from it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
from django.db.models import QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from parties.policy import policy_value
from parties.scoping import AGREEMENT, scoped
from procurement.models import Agreement, DeliveryLine

RATE_QUANTUM = Decimal("0.0001")


class ProgressStatus:
    COMPLETED = "completed"
    ON_TRACK = "on_track"
    BEHIND = "behind"

    LABELS = {
        COMPLETED: _("已完成 / completed"),
        ON_TRACK: _("进度正常 / on track"),
        BEHIND: _("进度滞后 / behind"),
    }
    choices = list(LABELS.items())


MSG_BAD_STATUS = _("未知的进度状态 / unknown progress status")

COLUMNS = (
    "id",
    "round_code",
    "hospital_code",
    "hospital_name",
    "region_code",
    "product_code",
    "product_name",
    "year_start",
    "year_end",
    "agreed_qty",
    "purchased_qty",
    "elapsed_days",
    "year_days",
    "status",
)


@dataclass(frozen=True)
class ProgressRow:
    id: int
    round_code: str
    hospital_code: str
    hospital_name: str
    region_code: str
    product_code: str
    product_name: str
    year_start: dt.date
    year_end: dt.date
    agreed_qty: int
    purchased_qty: int
    elapsed_days: int
    year_days: int
    status: str

    @property
    def completion_rate(self) -> Decimal:
        return rate(self.purchased_qty, self.agreed_qty)

    @property
    def expected_rate(self) -> Decimal:
        return rate(self.elapsed_days, self.year_days)

    @property
    def completion_pct(self) -> Decimal:
        return (self.completion_rate * 100).quantize(Decimal("0.01"))

    @property
    def expected_pct(self) -> Decimal:
        return (self.expected_rate * 100).quantize(Decimal("0.01"))

    @property
    def lag(self) -> Decimal:
        """Expected minus completed, in rate points (positive = behind the pace)."""
        diff = Fraction(self.elapsed_days, self.year_days) - Fraction(self.purchased_qty, self.agreed_qty)
        return (Decimal(diff.numerator) / Decimal(diff.denominator)).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)

    @property
    def key(self) -> str:
        return f"{self.round_code}/{self.hospital_code}/{self.product_code}/{self.year_start.isoformat()}"

    @property
    def status_label(self):
        return ProgressStatus.LABELS[self.status]


def rate(numerator: int, denominator: int) -> Decimal:
    """numerator / denominator to 4 decimals, ROUND_HALF_UP, without float."""
    return (Decimal(int(numerator)) / Decimal(int(denominator))).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)


def _lag_fraction(region_code: str) -> Fraction:
    return Fraction(Decimal(str(policy_value("AGREEMENT_LAG", region_code))))


def progress_frame(agreements: QuerySet[Agreement], *, as_of: dt.date) -> pd.DataFrame:
    """Every agreement of ``agreements`` with its purchased quantity and status at ``as_of``.

    Columns: COLUMNS. Constant number of queries: 1 + the number of distinct
    (year_start, year_end) windows among the agreements.
    """
    rows = list(
        agreements.order_by().values_list(
            "id",
            "round__code",
            "hospital_id",
            "hospital__name",
            "hospital__region_id",
            "product_id",
            "product__generic_name",
            "year_start",
            "year_end",
            "agreed_qty",
        )
    )
    head = [c for c in COLUMNS if c not in ("purchased_qty", "elapsed_days", "year_days", "status")]
    df = pd.DataFrame.from_records(rows, columns=head)
    if df.empty:
        return pd.DataFrame(columns=list(COLUMNS))

    # Σ accepted per (hospital, product) for each window [year_start, min(year_end, D)].
    parts = []
    for ys, ye in df[["year_start", "year_end"]].drop_duplicates().itertuples(index=False):
        end = min(ye, as_of)
        if end < ys:
            continue
        sums = (
            DeliveryLine.objects.filter(
                accepted_date__gte=ys,
                accepted_date__lte=end,
                accepted_qty__gt=0,
                order_line__hospital_id__in=agreements.filter(year_start=ys, year_end=ye).values("hospital_id"),
                order_line__product_id__in=agreements.filter(year_start=ys, year_end=ye).values("product_id"),
            )
            .order_by()
            .values_list("order_line__hospital_id", "order_line__product_id")
            .annotate(q=Sum("accepted_qty"))
        )
        part = pd.DataFrame.from_records(list(sums), columns=["hospital_code", "product_code", "purchased_qty"])
        part["year_start"], part["year_end"] = ys, ye
        parts.append(part)
    if parts:
        purchased = pd.concat(parts, ignore_index=True)
        df = df.merge(purchased, how="left", on=["hospital_code", "product_code", "year_start", "year_end"])
    else:
        df["purchased_qty"] = 0
    df["purchased_qty"] = df["purchased_qty"].fillna(0).astype("int64")

    ys = pd.to_datetime(df["year_start"])
    ye = pd.to_datetime(df["year_end"])
    d = pd.Timestamp(as_of)
    year_days = ((ye - ys).dt.days + 1).astype("int64")
    elapsed = ((d - ys).dt.days + 1).clip(lower=0).astype("int64")
    elapsed = np.minimum(elapsed, year_days)
    df["elapsed_days"] = elapsed
    df["year_days"] = year_days

    # AGREEMENT_LAG as p/q per region (policy may differ by region).
    lags = {rc: _lag_fraction(rc) for rc in df["region_code"].unique()}
    p = df["region_code"].map(lambda rc: lags[rc].numerator).astype("int64")
    q = df["region_code"].map(lambda rc: lags[rc].denominator).astype("int64")
    purchased_v = df["purchased_qty"].to_numpy(dtype="int64")
    agreed_v = df["agreed_qty"].to_numpy(dtype="int64")
    on_track = purchased_v * year_days.to_numpy() * q.to_numpy() >= agreed_v * (
        elapsed.to_numpy() * q.to_numpy() - p.to_numpy() * year_days.to_numpy()
    )
    df["status"] = np.select(
        [purchased_v >= agreed_v, on_track],
        [ProgressStatus.COMPLETED, ProgressStatus.ON_TRACK],
        default=ProgressStatus.BEHIND,
    )
    return df[list(COLUMNS)]


def iter_rows(df: pd.DataFrame) -> Iterator[ProgressRow]:
    for rec in df.itertuples(index=False):
        yield ProgressRow(
            id=int(rec.id),
            round_code=rec.round_code,
            hospital_code=rec.hospital_code,
            hospital_name=rec.hospital_name,
            region_code=rec.region_code,
            product_code=rec.product_code,
            product_name=rec.product_name,
            year_start=rec.year_start,
            year_end=rec.year_end,
            agreed_qty=int(rec.agreed_qty),
            purchased_qty=int(rec.purchased_qty),
            elapsed_days=int(rec.elapsed_days),
            year_days=int(rec.year_days),
            status=str(rec.status),
        )


def scoped_agreements(
    user,
    *,
    hospital: str | None = None,
    region: str | None = None,
    product: str | None = None,
    round_code: str | None = None,
    as_of: dt.date | None = None,
    current_only: bool = False,
) -> QuerySet[Agreement]:
    """Agreements ``user`` may see, narrowed by the filters; ``current_only`` keeps the
    agreement years that contain ``as_of``."""
    from parties.identifiers import region_prefix

    qs = scoped(Agreement.objects.all(), user, **AGREEMENT)
    if hospital:
        qs = qs.filter(hospital_id=hospital)
    if region:
        qs = qs.filter(hospital__region__code__startswith=region_prefix(region))
    if product:
        qs = qs.filter(product_id=product)
    if round_code:
        qs = qs.filter(round__code=round_code)
    if current_only and as_of is not None:
        qs = qs.filter(year_start__lte=as_of, year_end__gte=as_of)
    return qs


def agreement_progress(
    user,
    *,
    as_of: dt.date,
    status: str | None = None,
    order: str = "key",
    **filters,
) -> list[ProgressRow]:
    """The progress rows ``user`` may see; ``order`` "key" (round, hospital, product,
    year) or "lag" (furthest behind first). Raises ValueError for an unknown status."""
    if status and status not in ProgressStatus.LABELS:
        raise ValueError(str(MSG_BAD_STATUS))
    df = progress_frame(scoped_agreements(user, as_of=as_of, **filters), as_of=as_of)
    if status:
        df = df[df["status"] == status]
    rows = list(iter_rows(df))
    if order == "lag":
        rows.sort(key=lambda r: (-r.lag, r.hospital_code, r.product_code, r.year_start))
    else:
        rows.sort(key=lambda r: (r.round_code, r.hospital_code, r.product_code, r.year_start))
    return rows


@dataclass(frozen=True)
class HospitalProgress:
    """One hospital's agreements summed up, for the bureau's across-hospitals view."""

    hospital_code: str
    hospital_name: str
    region_code: str
    agreements: int
    behind: int
    completed: int
    agreed_qty: int
    purchased_qty: int
    mean_lag: Decimal  # mean of (expected − completion) over its agreements, rate points
    max_lag: Decimal

    @property
    def completion_rate(self) -> Decimal:
        return rate(self.purchased_qty, self.agreed_qty) if self.agreed_qty else Decimal("0.0000")

    @property
    def completion_pct(self) -> Decimal:
        return (self.completion_rate * 100).quantize(Decimal("0.01"))


def progress_by_hospital(rows: list[ProgressRow]) -> list[HospitalProgress]:
    """Per hospital, sorted by mean lag (furthest behind first)."""
    groups: dict[str, list[ProgressRow]] = {}
    for r in rows:
        groups.setdefault(r.hospital_code, []).append(r)
    out = []
    for code, rs in groups.items():
        lags = [r.lag for r in rs]
        out.append(
            HospitalProgress(
                hospital_code=code,
                hospital_name=rs[0].hospital_name,
                region_code=rs[0].region_code,
                agreements=len(rs),
                behind=sum(r.status == ProgressStatus.BEHIND for r in rs),
                completed=sum(r.status == ProgressStatus.COMPLETED for r in rs),
                agreed_qty=sum(r.agreed_qty for r in rs),
                purchased_qty=sum(r.purchased_qty for r in rs),
                mean_lag=(sum(lags, Decimal(0)) / len(lags)).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP),
                max_lag=max(lags),
            )
        )
    out.sort(key=lambda h: (-h.mean_lag, -h.behind, h.hospital_code))
    return out


def daily_purchases(agreement: Agreement, *, as_of: dt.date) -> list[tuple[dt.date, int]]:
    """(acceptance date, accepted qty) of the agreement's hospital and product inside its
    window [year_start, min(year_end, D)], by day: one GROUP BY query (≤ 366 rows)."""
    end = min(agreement.year_end, as_of)
    if end < agreement.year_start:
        return []
    rows = (
        DeliveryLine.objects.filter(
            order_line__hospital_id=agreement.hospital_id,
            order_line__product_id=agreement.product_id,
            accepted_date__gte=agreement.year_start,
            accepted_date__lte=end,
            accepted_qty__gt=0,
        )
        .order_by()
        .values_list("accepted_date")
        .annotate(q=Sum("accepted_qty"))
        .order_by("accepted_date")
    )
    return [(d, int(q)) for d, q in rows]
