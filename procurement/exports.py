"""Output tables of procurement (INTERCHANGE.md "Output tables"): ``agreement_progress``."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from interchange.exports import register_export
from procurement.selectors.progress import iter_rows, progress_frame, scoped_agreements

AGREEMENT_PROGRESS_COLUMNS = (
    "round_code",
    "hospital_code",
    "product_code",
    "year_start",
    "agreed_qty",
    "purchased_qty",
    "completion_rate",
    "expected_rate",
    "status",
)


@register_export("agreement_progress", columns=AGREEMENT_PROGRESS_COLUMNS, filters=("as_of", "region"))
def agreement_progress_rows(*, user, as_of: dt.date | None = None, region: str | None = None, **_unused):
    """One row per agreement the user may see, at ``as_of`` (default today, Asia/Shanghai)."""
    as_of = as_of or timezone.localdate()
    if isinstance(as_of, str):
        as_of = dt.date.fromisoformat(as_of)
    df = progress_frame(scoped_agreements(user, region=region), as_of=as_of)
    df = df.sort_values(["round_code", "hospital_code", "product_code", "year_start"], kind="stable")
    for r in iter_rows(df):
        yield (
            r.round_code,
            r.hospital_code,
            r.product_code,
            r.year_start,
            r.agreed_qty,
            r.purchased_qty,
            r.completion_rate,
            r.expected_rate,
            r.status,
        )
